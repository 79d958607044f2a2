"""Tenant quotas (issue 11, item 6): limits the admin sets, null for unlimited; an index to count a day's messages.

Send pacing (issue 11, item 5): a session's messages per minute, null for unpaced.
"""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0003_session_proxy')]

    initial = False

    operations = [
        ops.AddField(model_name='Tenant', name='max_sessions', field=fields.IntField(null=True)),
        ops.AddField(model_name='Tenant', name='max_messages_per_day', field=fields.IntField(null=True)),
        ops.AddField(model_name='Tenant', name='max_webhooks', field=fields.IntField(null=True)),
        ops.AddField(model_name='Session', name='send_per_minute', field=fields.IntField(null=True)),
        ops.AddIndex(
            model_name='OutboundMessage',
            index=Index(fields=['tenant_id', 'created_at']),
        ),
    ]
