"""WhatsApp engines: the real neonize client and the sandbox phone, behind one protocol."""

from __future__ import annotations

from workers.engines.base import Engine, EngineContext, EngineReporter, create_engine

__all__ = ["Engine", "EngineContext", "EngineReporter", "create_engine"]
