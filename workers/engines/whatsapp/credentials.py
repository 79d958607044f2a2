"""Where a session's WhatsApp credentials (whatsmeow's device store) live, and how they go away.

- Default: one SQLite file per session, ``$RELAY_DATA_DIR/whatsapp/{session_id}.db``. The
  session resumes from whatever device that file holds; no JID is needed.
- ``RELAY_WHATSAPP_STORE=postgres://…``: one shared whatsmeow store for all workers. A linked
  session resumes by the JID persisted on the session row; a session without one pairs a
  new device. whatsmeow creates and migrates its own ``whatsmeow_*`` tables there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from neonize.proto.Neonize_pb2 import JID

from workers.engines.base import EngineContext
from workers.engines.whatsapp.runtime import parse_jid

log = logging.getLogger("relay.whatsapp")

SQLITE_SUFFIXES = ("", "-journal", "-wal", "-shm")


@dataclass(slots=True)
class LinkedAccount:
    """The WhatsApp account the credentials belong to; both ``None`` until a device is linked."""

    phone: str | None
    jid: str | None

    def forget(self) -> None:
        self.phone = self.jid = None


class CredentialStore:
    def __init__(self, context: EngineContext) -> None:
        self.session_id = context.session_id
        self.shared_dsn = context.settings.whatsapp_store
        self.path = Path(context.data_dir) / "whatsapp" / f"{context.session_id}.db"

    @property
    def shared(self) -> bool:
        return self.shared_dsn is not None

    def client_arguments(self, jid: str | None) -> tuple[str, JID | None, bool]:
        """(dsn, jid to resume, pair a new device?) for ``NewAClient``."""
        if self.shared_dsn is not None:
            if jid:
                return self.shared_dsn, parse_jid(jid), False
            return self.shared_dsn, None, True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return str(self.path), None, False

    def has_device(self) -> bool:
        """Whether the per-session SQLite store holds a linked device (always False for Postgres)."""
        if self.shared or not self.path.exists():
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
                row = db.execute("SELECT count(*) FROM whatsmeow_device").fetchone()
        except sqlite3.Error:
            return False
        return bool(row and row[0])

    async def erase(self, jid: str | None) -> None:
        """Delete the device and everything whatsmeow keeps for it."""
        if self.shared_dsn is None:
            for suffix in SQLITE_SUFFIXES:
                with contextlib.suppress(FileNotFoundError):
                    await asyncio.to_thread(Path(f"{self.path}{suffix}").unlink)
            return
        if jid:
            await self._erase_shared(jid)

    async def _erase_shared(self, jid: str) -> None:
        import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

        connection = await asyncpg.connect(self.shared_dsn)
        try:
            # Every other whatsmeow table references whatsmeow_device ON DELETE CASCADE.
            await connection.execute("DELETE FROM whatsmeow_device WHERE jid = $1", jid)
        except asyncpg.UndefinedTableError:
            log.info("session %s: no whatsmeow tables yet, nothing to erase", self.session_id)
        finally:
            await connection.close()
