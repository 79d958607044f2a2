"""Revoking an API key, or deleting its tenant, cuts everything that key opened, in every web process.

A REST call with the key itself is refused at once: every request looks the
key up. Two things outlive that lookup and are cut here:

- JWTs minted from the key. A JWT names its key (claim ``key_id``) and is
  accepted only while the key exists. Each web process remembers the keys it
  has confirmed (``LiveKeys``) for at most ``KEY_CHECK_SECONDS``, so a JWT
  costs a database lookup per key and period, not per request.
- Open WebSockets, authenticated with the key or with one of its JWTs. Each
  web process knows the key behind each of its sockets and closes them with
  ``4410`` and the reason.

How every process learns in time: the process that revokes applies it to
itself, then publishes it on ``CREDENTIALS_REVOKED_CHANNEL``; every web
process listens (``RevocationListener``), forgets the key and closes its
sockets, within the pub/sub latency (milliseconds). Pub/sub drops what is sent
while a listener is disconnected, so a listener that (re)subscribes forgets
every confirmed key and checks its sockets' keys against the database, and it
does so every ``KEY_CHECK_SECONDS`` anyway: a revocation whose message was lost
(Redis down during the DELETE) still lands within that bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Protocol

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from relay.core.constants import CREDENTIALS_REVOKED_CHANNEL, KEY_CHECK_SECONDS
from relay.core.models import ApiKey

log = logging.getLogger("relay.web.revocation")

KEY_REVOKED = "API key revoked"
TENANT_DELETED = "tenant deleted"
# Keys of open sockets are checked against the database in batches of this many.
RECHECK_BATCH = 500
LISTEN_RETRY_SECONDS = 1.0


class Revocable(Protocol):
    """A connection that can be cut from another task (a feed socket)."""

    def revoke(self, reason: str) -> None: ...


class LiveKeys:
    """The API keys this web process has confirmed exist, and the sockets that rely on each."""

    def __init__(self) -> None:
        # key id -> (its tenant, when the database last confirmed it)
        self._confirmed: dict[str, tuple[str, float]] = {}
        self._sockets: dict[Revocable, tuple[str, str]] = {}
        # Bumped by every revocation: a lookup or a socket that raced one is checked again.
        self.generation = 0

    async def is_live(self, key_id: str, tenant_id: str) -> bool:
        confirmed = self._confirmed.get(key_id)
        now = time.monotonic()
        if confirmed is not None and now - confirmed[1] < KEY_CHECK_SECONDS:
            return confirmed[0] == tenant_id
        generation = self.generation
        exists = await ApiKey.exists(id=key_id, tenant_id=tenant_id)
        if not exists:
            self._confirmed.pop(key_id, None)
        elif generation == self.generation:
            self._confirmed[key_id] = (tenant_id, now)
        return exists

    async def watch(self, socket: Revocable, *, key_id: str, tenant_id: str, since_generation: int) -> None:
        """Close ``socket`` when its key goes; ``since_generation`` is ``generation`` read before it
        was authenticated, so a revocation that landed meanwhile is caught here."""
        self._sockets[socket] = (key_id, tenant_id)
        if self.generation != since_generation and not await ApiKey.exists(id=key_id, tenant_id=tenant_id):
            self.unwatch(socket)
            socket.revoke(KEY_REVOKED)

    def unwatch(self, socket: Revocable) -> None:
        self._sockets.pop(socket, None)

    def revoke(self, key_ids: Iterable[str], *, tenant_id: str | None = None) -> int:
        """Forget the keys and close their sockets (all of the tenant's with ``tenant_id``)."""
        self.generation += 1
        revoked = set(key_ids)
        for key_id in revoked:
            self._confirmed.pop(key_id, None)
        if tenant_id is not None:
            self._confirmed = {k: v for k, v in self._confirmed.items() if v[0] != tenant_id}
        reason = TENANT_DELETED if tenant_id is not None else KEY_REVOKED
        doomed = [
            socket
            for socket, (key_id, socket_tenant) in self._sockets.items()
            if key_id in revoked or socket_tenant == tenant_id
        ]
        for socket in doomed:
            self.unwatch(socket)
            socket.revoke(reason)
        return len(doomed)

    async def recheck(self) -> int:
        """Forget every confirmed key and close the sockets whose key is gone from the database."""
        self.generation += 1
        self._confirmed.clear()
        key_ids = sorted({key_id for key_id, _ in self._sockets.values()})
        gone: set[str] = set()
        for start in range(0, len(key_ids), RECHECK_BATCH):
            batch = key_ids[start : start + RECHECK_BATCH]
            found = await ApiKey.filter(id__in=batch).values_list("id", flat=True)
            gone |= set(batch) - {str(key_id) for key_id in found}
        return self.revoke(gone) if gone else 0


# One per web process: the REST middleware and the feed endpoint share it.
live_keys = LiveKeys()


async def publish_revocation(redis: Redis, key_ids: list[str], *, tenant_id: str | None = None) -> None:
    """Cut the keys here at once, then tell every other web process.

    Called after the keys are deleted in the database. If Redis is down the
    others still learn within ``KEY_CHECK_SECONDS`` (their periodic recheck).
    """
    live_keys.revoke(key_ids, tenant_id=tenant_id)
    message = orjson.dumps({"key_ids": key_ids, "tenant_id": tenant_id})
    try:
        await redis.publish(CREDENTIALS_REVOKED_CHANNEL, message)
    except RedisError:
        log.warning("revocation not announced; other web processes recheck in %gs", KEY_CHECK_SECONDS)


class RevocationListener:
    """The web process's subscription to revocations, and its periodic recheck."""

    def __init__(self, redis: Redis, keys: LiveKeys = live_keys) -> None:
        self._redis = redis
        self._keys = keys
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def apply(self, raw: bytes) -> None:
        try:
            message = orjson.loads(raw)
            key_ids = [str(key_id) for key_id in message.get("key_ids") or []]
            tenant_id = message.get("tenant_id")
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            log.warning("ignoring a malformed revocation message: %r", raw[:200])
            return
        closed = self._keys.revoke(key_ids, tenant_id=str(tenant_id) if tenant_id else None)
        if closed:
            log.info("revocation closed %d feed sockets", closed)

    async def _run(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(CREDENTIALS_REVOKED_CHANNEL)
                await self._listen(pubsub)
            except (RedisError, OSError) as exc:
                log.warning("revocation channel unavailable (%s); retrying", exc)
            except Exception as exc:
                # The database may be down for a recheck: subscribe again and retry it shortly.
                log.warning("revocation recheck failed (%s); retrying", exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py 5
            await asyncio.sleep(LISTEN_RETRY_SECONDS)

    async def _listen(self, pubsub: PubSub) -> None:
        # Whatever was published while we were not subscribed is caught by a recheck.
        await self._keys.recheck()
        next_check = time.monotonic() + KEY_CHECK_SECONDS
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message.get("type") == "message":
                self.apply(message["data"])
            if time.monotonic() >= next_check:
                await self._keys.recheck()
                next_check = time.monotonic() + KEY_CHECK_SECONDS
