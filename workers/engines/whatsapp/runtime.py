"""Process-wide neonize plumbing: the import, the event loop, the lifecycle lock, one client per session.

neonize 0.5.2 has four process-global traps (see docs/whatsapp-engine.md):
- importing it calls ``logging.basicConfig``; we undo that so the worker's logging stays its own;
- Go callbacks are dispatched to one module-global event loop, set once;
- the Go core keeps its clients in unlocked maps, so starting and stopping clients
  concurrently can abort the process: every lifecycle call goes through ``lifecycle_lock``;
- a garbage-collected ``NewAClient`` stops whatever Go client has its uuid, so each
  session has exactly one client object and a released client never fires that finalizer.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any


def _import_neonize() -> Any:
    """Import neonize without letting its ``logging.basicConfig`` take over the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from neonize.aioze import client as aio_client
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    # connect() warns about a missing ffmpeg on every attempt; we never transcode.
    logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)
    # The Go core logs at this logger's level, read at connect time; unset means DEBUG, which
    # would push every websocket frame through the FFI into our logs.
    core_log = logging.getLogger("neonize.utils.log")
    if core_log.level == logging.NOTSET:
        core_log.setLevel(logging.INFO)
    return aio_client


_aio_client = _import_neonize()

from neonize._binder import ProxySettings, gocode  # noqa: E402
from neonize.aioze import events as neonize_events  # noqa: E402
from neonize.aioze.client import ChatSettingsStore, ContactStore, NewAClient  # noqa: E402
from neonize.proto.Neonize_pb2 import JID  # noqa: E402
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps  # noqa: E402

log = logging.getLogger("relay.whatsapp")

# How long a connect start keeps the lifecycle lock: the Go core writes its maps in the first
# milliseconds of Neonize(); holding the lock a little longer covers that without serialising
# whole network handshakes.
CONNECT_SETTLE_SECONDS = 0.1

# What the phone shows under "Linked devices".
DEVICE_PROPS = DeviceProps(os="Relay", platformType=DeviceProps.CHROME)

_lifecycle_lock = asyncio.Lock()
_live_clients: dict[str, RelayClient] = {}


def lifecycle_lock() -> asyncio.Lock:
    """The one lock around Go calls that add or remove clients (connect start, stop, logout)."""
    return _lifecycle_lock


def bind_event_loop() -> None:
    """Point neonize's global dispatch loop at the running loop.

    neonize sets it once per process and ignores later loops, so handlers would silently
    stop running after a loop is replaced (a second ``asyncio.run``, a test loop). A closed
    loop is replaced; a different live loop is an error, since all clients must share one.
    """
    loop = asyncio.get_running_loop()
    current = neonize_events.event_global_loop
    if current is None or current.is_closed():
        neonize_events.event_global_loop = loop
    elif current is not loop:
        raise RuntimeError("neonize dispatches every callback to one event loop per process")


def format_jid(jid: JID) -> str:
    """whatsmeow's ``JID.String()``: ``user[.agent][:device]@server``."""
    if jid.RawAgent > 0:
        return f"{jid.User}.{jid.RawAgent}:{jid.Device}@{jid.Server}"
    if jid.Device > 0:
        return f"{jid.User}:{jid.Device}@{jid.Server}"
    if jid.User:
        return f"{jid.User}@{jid.Server}"
    return str(jid.Server)


def parse_jid(value: str) -> JID:
    """The inverse of ``format_jid``; a bare number becomes a user on ``s.whatsapp.net``."""
    user, _, server = value.partition("@")
    server = server or "s.whatsapp.net"
    user, _, device = user.partition(":")
    user, _, agent = user.partition(".")
    return JID(
        User=user,
        Server=server,
        Device=int(device or 0),
        RawAgent=int(agent or 0),
        Integrator=0,
        IsEmpty=False,
    )


class RelayClient(NewAClient):  # type: ignore[misc]  # neonize ships no types: its client is Any
    """A neonize client keyed by the session id, whatever account it resumes.

    neonize keys a client by ``jid.User`` when a JID is given, so two sessions linking the
    same phone would share one Go client; we always key by session id instead.
    """

    # The attributes of neonize's client that Relay reads or replaces, typed here.
    uuid: bytes
    connect_task: asyncio.Task[None] | None
    _stop_finalizer: weakref.finalize[..., object]

    def __init__(
        self,
        session_id: str,
        dsn: str,
        *,
        jid: JID | None,
        new_device: bool,
        on_login_status: Callable[[str], Coroutine[Any, Any, None]],
        proxy: str | None = None,
    ) -> None:
        super().__init__(dsn, jid=jid, props=DEVICE_PROPS, uuid=session_id, new_device=new_device)
        self.session_id = session_id
        self.proxy = proxy
        self._on_login_status = on_login_status
        if self.uuid != session_id.encode():
            self._stop_finalizer.detach()
            self.uuid = session_id.encode()
            self.contact = ContactStore(self.uuid)
            self.chat_settings = ChatSettingsStore(self.uuid)
            self._stop_finalizer = weakref.finalize(self, NewAClient._release_ffi, self.uuid, gocode)

    def _NewAClient__onLoginStatus(self, uuid: int, status: int) -> None:
        """The QR flow's end ("success", "timeout", "err-…"), which aioze drops on the floor.

        Called on a Go thread. It goes through ``run_coroutine_threadsafe`` like every other
        neonize callback so it keeps its place in the per-session order.
        """
        try:
            text = ctypes.string_at(status).decode(errors="replace")
            loop = neonize_events.event_global_loop
            if loop is not None and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(self._on_login_status(text), loop)
        except Exception:
            log.exception("session %s: login status callback failed", self.session_id)


async def open_client(client: RelayClient) -> asyncio.Task[None]:
    """Start the Go client; returns neonize's connect task (done when the client ends).

    The Go core dials WhatsApp through the session's proxy (``client.proxy``, ``http://`` or
    ``socks5://``) when it has one, in process and in an engine host alike.
    """
    bind_event_loop()
    async with _lifecycle_lock:
        stale = _live_clients.get(client.session_id)
        if stale is not None and stale is not client:
            log.warning("session %s: stopping a stale client before connecting", client.session_id)
            await _stop_locked(stale)
        _live_clients[client.session_id] = client
        # The Go core dials WhatsApp (and media) through the proxy: CONNECT web.whatsapp.com:443.
        settings = ProxySettings(proxy_address=client.proxy) if client.proxy else None
        task: asyncio.Task[None] = await client.connect(settings)
        await asyncio.wait({task}, timeout=CONNECT_SETTLE_SECONDS)
        return task


async def close_client(client: RelayClient) -> None:
    """Stop the Go client for good and make sure its GC finalizer can never stop a successor."""
    async with _lifecycle_lock:
        await _stop_locked(client)


async def logout_client(client: RelayClient) -> None:
    """Unlink the device (needs a connection); raises neonize's ``LogoutError``."""
    async with _lifecycle_lock:
        await client.logout()


async def _stop_locked(client: RelayClient) -> None:
    try:
        await client.stop()
    finally:
        client._stop_finalizer.detach()
        if _live_clients.get(client.session_id) is client:
            del _live_clients[client.session_id]


def live_client(session_id: str) -> RelayClient | None:
    return _live_clients.get(session_id)
