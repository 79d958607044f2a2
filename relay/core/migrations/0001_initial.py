from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(db_index=True, max_length=40)),
                ('name', fields.CharField(null=True, max_length=200)),
                ('prefix', fields.CharField(max_length=16)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_keys', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(max_length=40)),
                ('session_id', fields.CharField(null=True, max_length=40)),
                ('type', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('data', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'events', 'app': 'models', 'indexes': [Index(fields=['tenant_id', 'id']), Index(fields=['tenant_id', 'session_id', 'id']), Index(fields=['tenant_id', 'type', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboundMessage',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(max_length=40)),
                ('session_id', fields.CharField(db_index=True, max_length=40)),
                ('to', fields.CharField(max_length=128)),
                ('type', fields.CharField(max_length=32)),
                ('payload', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='queued', max_length=16)),
                ('whatsapp_id', fields.CharField(null=True, max_length=128)),
                ('error', fields.TextField(null=True, unique=False)),
                ('idempotency_key', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'outbound_messages', 'app': 'models', 'unique_together': (('tenant_id', 'idempotency_key'),), 'indexes': [Index(fields=['session_id', 'status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(db_index=True, max_length=40)),
                ('name', fields.CharField(max_length=200)),
                ('engine', fields.CharField(max_length=16)),
                ('status', fields.CharField(default='stopped', max_length=16)),
                ('reason', fields.CharField(null=True, max_length=500)),
                ('desired_state', fields.CharField(default='stopped', db_index=True, max_length=16)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('jid', fields.CharField(null=True, max_length=128)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('qr', fields.TextField(null=True, unique=False)),
                ('qr_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fence', fields.BigIntField(default=0)),
                ('owner', fields.CharField(null=True, max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tenant',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tenants', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
