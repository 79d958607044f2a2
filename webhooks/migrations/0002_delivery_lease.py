from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('webhooks', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Delivery',
            name='lease_owner',
            field=fields.CharField(null=True, max_length=40),
        ),
        ops.AddField(
            model_name='Delivery',
            name='lease_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Delivery',
            name='trigger',
            field=fields.CharField(default='scheduled', max_length=16),
        ),
    ]
