"""Sessions get a proxy (issue 10, item 4): an encrypted URL, null for a direct connection."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from relay.core.crypto import EncryptedField


class Migration(migrations.Migration):
    dependencies = [('models', '0002_event_seq')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Session',
            name='encrypted_proxy',
            field=EncryptedField(null=True, unique=False),
        ),
    ]
