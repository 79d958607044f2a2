"""WhatsApp engines out of process: the Go core runs in ``relay engine-host`` children, never in the worker.

neonize's Go core leaks a store handle per connect and can abort its whole process
(a Go ``fatal error`` cannot be caught). So a worker drives its WhatsApp sessions
through engine host processes, each holding up to ``RELAY_ENGINE_HOST_SESSIONS``
clients, over a small framed pipe protocol. A host that dies costs its sessions a
reconnect, not the worker; a host that has leaked enough is retired and replaced.

Modules, by concept:
- ``framing``: length-prefixed JSON frames on a pipe;
- ``wire``: what crosses the pipe (the engine context, errors, receipts) and back;
- ``server``: the host process itself: real ``WhatsAppEngine`` s driven by the worker's frames;
- ``channel``: the worker's handle on one host process (calls, replies, reports, its death);
- ``pool``: the worker's hosts: which session goes where, crash backoff, recycling;
- ``remote``: ``RemoteEngine``, the ``Engine`` a runner drives, backed by a host;
- ``resources``: file descriptors and memory of a process, from ``/proc``.
"""

from __future__ import annotations

from workers.engines.host.remote import RemoteEngine

__all__ = ["RemoteEngine"]
