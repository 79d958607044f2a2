"""Redis clients: one pool for commands, separate connections for long blocking reads."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str, *, max_connections: int = 200) -> Redis:
    """A client whose pool is bounded (redis-py's default is 2**31) and decodes nothing.

    Values stay bytes: stream payloads are orjson and decoding them twice costs CPU.
    """
    client: Redis = Redis.from_url(
        url,
        max_connections=max_connections,
        health_check_interval=30,
        socket_keepalive=True,
        retry_on_timeout=True,
    )
    return client
