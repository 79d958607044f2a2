"""Database setup: one tortoise config for the web, the worker and the migrations CLI."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from relay.core.config import Settings

# Each package owns its tables and its migrations.
APPS: dict[str, list[str]] = {
    "models": ["relay.core.models"],
    "webhooks": ["webhooks.models"],
}
MIGRATION_MODULES = {"models": "relay.core.migrations", "webhooks": "webhooks.migrations"}


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
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
    return tortoise_config(Settings.from_env().database_url)


# For the `tortoise` CLI (makemigrations): `tortoise -c relay.core.db.TORTOISE_ORM ...`.
def __getattr__(name: str) -> Any:
    if name == "TORTOISE_ORM":
        return _settings_config()
    raise AttributeError(name)


async def apply_migrations(database_url: str) -> None:
    if database_url.startswith("sqlite://"):
        from pathlib import Path

        path = database_url.removeprefix("sqlite://")
        if path not in {":memory:", ""}:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


async def open_database(database_url: str) -> None:
    # Global fallback: neonize callbacks and Starlette request tasks do not inherit
    # the context that ran init (see tortoise 1.x TortoiseContext).
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()
