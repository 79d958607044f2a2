"""Inbound media (issue 11, item 1): one row per media file a message brought, and where its bytes are."""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from orjson import loads
from tortoise.fields.data import JSON_DUMPS


class Migration(migrations.Migration):
    dependencies = [('models', '0004_tenant_quotas')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Media',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(max_length=40)),
                ('session_id', fields.CharField(db_index=True, max_length=40)),
                ('whatsapp_id', fields.CharField(max_length=128)),
                ('type', fields.CharField(max_length=16)),
                ('mimetype', fields.CharField(null=True, max_length=200)),
                ('size', fields.BigIntField(null=True)),
                ('filename', fields.CharField(null=True, max_length=500)),
                ('sha256', fields.CharField(null=True, max_length=64)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('error', fields.TextField(null=True, unique=False)),
                ('reference', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('stored_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'media', 'app': 'models', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
