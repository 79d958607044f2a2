"""The real WhatsApp engine (neonize / whatsmeow). Import it lazily: it loads a Go library.

Modules, by concept:
- ``engine``: connecting, backoff and the ``Engine`` protocol surface;
- ``session_events``: neonize callbacks → reporter calls, in order, on one consumer task;
- ``runtime``: process-wide neonize plumbing (loop, lifecycle lock, one client per session);
- ``connection``: connection events → states and reasons;
- ``inbound``: messages and receipts → event data;
- ``outbound``: outgoing messages → protobufs, media fetching;
- ``credentials``: the per-session SQLite store or the shared Postgres store;
- ``backoff``: the reconnect policy.
"""

from __future__ import annotations

# First: runtime imports neonize without letting it reconfigure the root logger.
from workers.engines.whatsapp import runtime  # noqa: F401
from workers.engines.whatsapp.engine import WhatsAppEngine

__all__ = ["WhatsAppEngine"]
