"""Redis clients: one pool for commands, separate connections for long blocking reads."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError

from relay.core.constants import REDIS_CONNECT_TIMEOUT


def connect_redis(url: str, *, max_connections: int = 200, read_timeout: float | None = None) -> Redis:
    """A client whose pool is bounded (redis-py's default is 2**31) and decodes nothing.

    Values stay bytes: stream payloads are orjson and decoding them twice costs CPU.
    Connecting gives up after ``REDIS_CONNECT_TIMEOUT``; a reply is waited for at
    most ``read_timeout`` seconds when given, which must then outlast every
    blocking read the caller issues (a pub/sub listener cannot have one). A
    command that finds its pooled connection broken (Redis restarted) reconnects
    and is sent once more; a timeout is not retried, so a hung Redis costs one
    ``read_timeout``.
    """
    client: Redis = Redis.from_url(
        url,
        max_connections=max_connections,
        health_check_interval=30,
        socket_keepalive=True,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=read_timeout,
        # Both name the error: the first retries it, the second lets redis-py reconnect for it.
        retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        retry_on_error=[ConnectionError],
    )
    return client


def is_redis_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis could not be reached (answer 503), not that a command was wrong.

    redis-py raises ``ConnectionError`` for a refused, reset or exhausted connection (and
    ``BusyLoadingError``, a subclass, while Redis loads its data after a restart), ``TimeoutError``
    when a reply does not come in time.
    """
    return isinstance(exc, ConnectionError | TimeoutError)
