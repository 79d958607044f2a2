"""Raw SQL on either backend, for the few hot statements the ORM would make slow.

Values go through the drivers as tortoise passes them (datetimes as objects,
JSON as text), so rows written here read back through the models unchanged.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient


def placeholders(connection: BaseDBAsyncClient, count: int) -> list[str]:
    """``$1, $2, ...`` for PostgreSQL, ``?, ?, ...`` for SQLite."""
    if connection.capabilities.dialect == "postgres":
        return [f"${number}" for number in range(1, count + 1)]
    return ["?"] * count
