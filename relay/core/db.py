"""Database setup: one tortoise config for the web, the worker and the migrations CLI.

Serving processes never wait on an unreachable database for long: on Postgres
a connection attempt, a wait for a pooled connection and a statement are each
bounded (``relay.core.constants``), so a request during an outage fails fast
and is answered 503 (``is_database_unavailable`` tells such a failure from a
bad query). Migrations run without the statement bound.
"""

from __future__ import annotations

import sqlite3
import traceback
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.migrations.api import migrate

from relay.core.config import Settings
from relay.core.constants import DATABASE_ACQUIRE_TIMEOUT, DATABASE_CONNECT_TIMEOUT, DATABASE_QUERY_TIMEOUT

# Each package owns its tables and its migrations.
APPS: dict[str, list[str]] = {
    "models": ["relay.core.models"],
    "webhooks": ["webhooks.models"],
}
MIGRATION_MODULES = {"models": "relay.core.migrations", "webhooks": "webhooks.migrations"}


class _BoundedAcquirePool:
    """asyncpg's pool, except that ``acquire`` gives up after ``DATABASE_ACQUIRE_TIMEOUT``.

    Tortoise acquires without a timeout; a request queued behind connections
    stuck on a hung database would otherwise wait for all of them.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def acquire(self, *, timeout: float | None = None) -> Any:
        return self._pool.acquire(timeout=DATABASE_ACQUIRE_TIMEOUT if timeout is None else timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class BoundedAsyncpgClient(AsyncpgDBClient):
    """Tortoise's asyncpg client with a bounded wait for a pooled connection."""

    async def create_pool(self, **kwargs: Any) -> Any:
        return _BoundedAcquirePool(await super().create_pool(**kwargs))


# Tortoise loads a connection's client class from its "engine" module: this one.
client_class = BoundedAsyncpgClient


def _connection(database_url: str, *, bounded: bool) -> str | dict[str, Any]:
    if not database_url.startswith(("postgres://", "postgresql://")):
        return database_url
    config: dict[str, Any] = expand_db_url(database_url)
    credentials = config["credentials"]
    # What the URL says (?timeout=, ?command_timeout=) wins over the defaults.
    credentials.setdefault("timeout", DATABASE_CONNECT_TIMEOUT)
    if bounded:
        credentials.setdefault("command_timeout", DATABASE_QUERY_TIMEOUT)
    return {"engine": __name__, "credentials": credentials}


def tortoise_config(database_url: str, *, bounded: bool = True) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url, bounded=bounded)},
        "apps": {
            label: {
                "models": modules,
                "default_connection": "default",
                "migrations": MIGRATION_MODULES[label],
            }
            for label, modules in APPS.items()
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _settings_config() -> dict[str, Any]:
    return tortoise_config(Settings.from_env().database_url, bounded=False)


# For the `tortoise` CLI (makemigrations): `tortoise -c relay.core.db.TORTOISE_ORM ...`.
def __getattr__(name: str) -> Any:
    if name == "TORTOISE_ORM":
        return _settings_config()
    raise AttributeError(name)


async def apply_migrations(database_url: str) -> None:
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://")
        if path not in {":memory:", ""}:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    await migrate(config=tortoise_config(database_url, bounded=False))
    await Tortoise.close_connections()


async def open_database(database_url: str) -> None:
    # Global fallback: neonize callbacks and Starlette request tasks do not inherit
    # the context that ran init (see tortoise 1.x TortoiseContext).
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()


# Postgres errors that mean "cannot talk to the server now", not "this query is wrong": the
# connection broke or never opened (class 08), the server is shutting down, restarting or refusing
# connections (57P01-57P03), or it has no connection slot left (53300); tortoise found no database.
_DATABASE_UNAVAILABLE = (
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# SQLite is a file, never "down"; a writer that held the lock past the busy timeout is the nearest thing.
_SQLITE_BUSY = "database is locked"
_DRIVER_MODULES = ("asyncpg", "tortoise.backends", "aiosqlite")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached (answer 503), not that a query failed."""
    if isinstance(exc, _DATABASE_UNAVAILABLE):
        return True
    if isinstance(exc, OperationalError | sqlite3.OperationalError):
        return _SQLITE_BUSY in str(exc)
    # Refused or reset connections and timeouts (connect, acquire, statement) surface as plain
    # OSErrors; only those raised inside the database driver are the database's.
    return isinstance(exc, OSError) and _raised_in(exc, _DRIVER_MODULES)


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(modules)
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )
