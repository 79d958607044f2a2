"""`relay rotate-key`: every stored secret re-encrypted with the first key of RELAY_ENCRYPTION_KEY.

Rotating the encryption key, without downtime:

1. put the new key first and keep the old one after it,
   ``RELAY_ENCRYPTION_KEY=<new>,<old>``, on every process, and restart them:
   they now encrypt with the new key and still read the old one;
2. run ``relay rotate-key``: every secret stored under the old key is
   re-encrypted with the new one;
3. drop the old key (``RELAY_ENCRYPTION_KEY=<new>``) and restart again.

Safe to run again and while Relay runs: values already under the first key
are left alone, and a value is replaced only if nobody changed it since it was
read (a concurrent rotation of a webhook secret wins; the next pass checks it).
The columns come from the models: every ``EncryptedField`` of every app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tortoise import Tortoise
from tortoise.models import Model

from relay.core.config import Settings
from relay.core.crypto import EncryptedField, Keyring, keyring
from relay.core.db import close_database, open_database

PAGE = 500
# A pass that finds values to re-encrypt is followed by another, to catch concurrent writers.
MAX_PASSES = 5


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    model: type[Model]
    field: str

    @property
    def name(self) -> str:
        return f"{self.model._meta.db_table}.{self.field}"


def encrypted_columns() -> list[EncryptedColumn]:
    """Every ``EncryptedField`` of the models Tortoise knows (``open_database`` first)."""
    return [
        EncryptedColumn(model, name)
        for models in Tortoise.apps.values()
        for model in models.values()
        for name, field in model._meta.fields_map.items()
        if isinstance(field, EncryptedField)
    ]


async def _reencrypt_column(column: EncryptedColumn, keys: Keyring) -> int:
    """One pass over one column; how many values it re-encrypted."""
    pk = column.model._meta.pk_attr
    changed = 0
    last = None
    while True:
        query = column.model.all().order_by(pk).limit(PAGE)
        if last is not None:
            query = query.filter(**{f"{pk}__gt": last})
        rows = await query.values_list(pk, column.field)
        for row_id, value in rows:
            if value is None or keys.is_current(value):
                continue
            # Compare-and-set: a value rewritten meanwhile is left to the next pass.
            changed += await column.model.filter(**{pk: row_id, column.field: value}).update(
                **{column.field: keys.reencrypt(value)}
            )
        if len(rows) < PAGE:
            return changed
        last = rows[-1][0]


async def rotate_stored_secrets() -> dict[str, int]:
    """Re-encrypt until a pass finds nothing left under an older key; counts per column."""
    keys = keyring()
    totals: dict[str, int] = {}
    for _ in range(MAX_PASSES):
        found = 0
        for column in encrypted_columns():
            changed = await _reencrypt_column(column, keys)
            totals[column.name] = totals.get(column.name, 0) + changed
            found += changed
        if not found:
            return totals
    raise RuntimeError(f"secrets kept changing under older keys for {MAX_PASSES} passes; run it again")


async def _rotate(settings: Settings) -> dict[str, int]:
    await open_database(settings.database_url)
    try:
        return await rotate_stored_secrets()
    finally:
        await close_database()


def cmd_rotate_key(settings: Settings) -> int:
    totals = asyncio.run(_rotate(settings))
    for column, count in totals.items():
        print(f"{column}: {count} re-encrypted", flush=True)
    print(f"every stored secret is now encrypted with the first of {len(settings.encryption_keys)} keys")
    return 0
