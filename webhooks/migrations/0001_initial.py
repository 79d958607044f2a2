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
            name='Delivery',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(max_length=40)),
                ('endpoint_id', fields.CharField(max_length=40)),
                ('event_id', fields.CharField(max_length=40)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('attempt_log', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_deliveries', 'app': 'webhooks', 'indexes': [Index(fields=['endpoint_id', 'status', 'id']), Index(fields=['status', 'next_attempt_at']), Index(fields=['event_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('tenant_id', fields.CharField(db_index=True, max_length=40)),
                ('url', fields.CharField(max_length=2048)),
                ('events', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('session_ids', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('description', fields.CharField(null=True, max_length=500)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.CharField(null=True, max_length=500)),
                ('secret', fields.CharField(max_length=100)),
                ('previous_secret', fields.CharField(null=True, max_length=100)),
                ('previous_secret_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_success_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoints', 'app': 'webhooks', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
