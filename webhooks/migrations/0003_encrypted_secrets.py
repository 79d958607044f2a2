"""Webhook signing secrets move to encrypted columns (relay.core.crypto).

Existing secrets are encrypted by the migration itself, so no plaintext is
left behind. That needs the key: `relay migrate` and `relay up` install
RELAY_ENCRYPTION_KEY (or the key generated under the data dir) before
migrating. A database without webhook endpoints needs no key. There is no way
back: undoing it would write the secrets out in clear again.

Older copies of the plaintexts can outlive it where the database keeps old
row versions: Postgres until `VACUUM FULL webhook_endpoints`, and every backup
taken before (SPEC, "Secrets at rest").
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

from relay.core.crypto import EncryptedField, keyring


async def encrypt_existing_secrets(apps, schema_editor) -> None:
    client = schema_editor.client
    _, rows = await client.execute_query("SELECT id, secret, previous_secret FROM webhook_endpoints")
    if not rows:
        return
    try:
        keys = keyring()
    except RuntimeError as exc:
        raise RuntimeError(
            f"{len(rows)} webhook secrets must be encrypted and no key is installed: "
            "run this migration with `relay migrate`, which reads RELAY_ENCRYPTION_KEY"
        ) from exc
    postgres = client.capabilities.dialect == "postgres"
    if not postgres:
        # Pages this migration frees (the old rows, the old table) are zeroed, not left holding plaintexts.
        await client.execute_script("PRAGMA secure_delete = ON")
    marks = ["$1", "$2", "$3"] if postgres else ["?", "?", "?"]
    # The plaintext columns are blanked too: Postgres keeps a dropped column's bytes in live rows.
    update = (
        "UPDATE webhook_endpoints SET encrypted_secret = {}, encrypted_previous_secret = {},"
        " secret = '', previous_secret = NULL WHERE id = {}"
    ).format(*marks)
    for row in rows:
        previous = row["previous_secret"]
        await client.execute_query(
            update,
            [keys.encrypt(row["secret"]), keys.encrypt(previous) if previous else None, row["id"]],
        )


class Migration(migrations.Migration):
    dependencies = [('webhooks', '0002_delivery_lease')]

    initial = False

    operations = [
        ops.AddField(
            model_name='WebhookEndpoint',
            name='encrypted_secret',
            field=EncryptedField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='WebhookEndpoint',
            name='encrypted_previous_secret',
            field=EncryptedField(null=True, unique=False),
        ),
        ops.RunPython(encrypt_existing_secrets),
        ops.AlterField(
            model_name='WebhookEndpoint',
            name='encrypted_secret',
            field=EncryptedField(unique=False),
        ),
        ops.RemoveField(model_name='WebhookEndpoint', name='previous_secret'),
        ops.RemoveField(model_name='WebhookEndpoint', name='secret'),
    ]
