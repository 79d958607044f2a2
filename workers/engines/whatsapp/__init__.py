"""The real WhatsApp engine (neonize / whatsmeow). Import it lazily: it loads a Go library.

Modules, by concept:
- ``engine``: the session's lifecycle, its client, connecting with backoff, and the ``Engine``
  protocol surface;
- ``session_events``: where neonize's callbacks are registered; events → reporter calls, and
  what they say about the connection; it hands linking to ``pairing_events`` (QR codes,
  pairing codes, the login flow) and inbound traffic to ``message_events`` (messages,
  receipts, history and offline sync, groups);
- ``consumer``: one task per session that runs the event handlers in order;
- ``runtime``: process-wide neonize plumbing (loop, lifecycle lock, one client per session);
- ``connection``: connection events → states and reasons, and how a connection ended;
- ``inbound``: messages and receipts → event data;
- ``outbound``: outgoing messages → protobufs, media fetching;
- ``media_facts``: a video's or audio's length and preview, read with ffmpeg;
- ``credentials``: the linked account, and the per-session SQLite store or the shared Postgres store;
- ``backoff``: the reconnect policy.
- ``watchdog``: a connection that is up but hears nothing is pinged, and started over if deaf;
- ``connection`` also holds the check before a connection: its first hop (``route_problem``,
  the session's proxy or WhatsApp) must be allowed and must answer.
"""

from __future__ import annotations

# First: runtime imports neonize without letting it reconfigure the root logger.
from workers.engines.whatsapp import runtime  # noqa: F401
from workers.engines.whatsapp.engine import WhatsAppEngine

__all__ = ["WhatsAppEngine"]
