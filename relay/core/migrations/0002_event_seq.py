from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

# Every existing event gets its place in its tenant's order: by id, which is how the ledger
# was paged before seqs existed. Then each tenant's counter starts after its last event.
# UPDATE ... FROM and window functions: SQLite >= 3.33 and PostgreSQL.
NUMBER_EXISTING_EVENTS = """
UPDATE events SET seq = numbered.position
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) AS position FROM events) AS numbered
WHERE events.id = numbered.id
"""
START_TENANT_COUNTERS = """
INSERT INTO tenant_sequences (tenant_id, last_seq) SELECT tenant_id, MAX(seq) FROM events GROUP BY tenant_id
"""


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TenantSequence',
            fields=[
                ('tenant_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('last_seq', fields.BigIntField(default=0)),
            ],
            options={'table': 'tenant_sequences', 'app': 'models', 'pk_attr': 'tenant_id'},
            bases=['Model'],
        ),
        ops.RemoveIndex(
            model_name='Event',
            name=None,
            fields=['tenant_id', 'session_id', 'id'],
        ),
        ops.RemoveIndex(
            model_name='Event',
            name=None,
            fields=['tenant_id', 'type', 'id'],
        ),
        # Making seq required rebuilds the table on SQLite, and tortoise's rebuild drops the
        # table's indexes without recreating them: drop this one first and add it back after.
        ops.RemoveIndex(
            model_name='Event',
            name=None,
            fields=['tenant_id', 'id'],
        ),
        ops.AddField(
            model_name='Event',
            name='seq',
            field=fields.BigIntField(null=True),
        ),
        ops.RunSQL(NUMBER_EXISTING_EVENTS),
        ops.RunSQL(START_TENANT_COUNTERS),
        ops.AlterField(
            model_name='Event',
            name='seq',
            field=fields.BigIntField(),
        ),
        ops.AddIndex(
            model_name='Event',
            index=Index(fields=['tenant_id', 'id']),
        ),
        ops.AddIndex(
            model_name='Event',
            index=Index(fields=['tenant_id', 'session_id', 'seq']),
        ),
        ops.AddIndex(
            model_name='Event',
            index=Index(fields=['tenant_id', 'type', 'seq']),
        ),
        ops.AddConstraint(
            model_name='Event',
            constraint=UniqueConstraint(fields=('tenant_id', 'seq'), name=None),
        ),
    ]
