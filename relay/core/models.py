"""Database tables (tortoise-orm).

Rows reference each other by plain id columns rather than ORM foreign keys:
the ledger must outlive the objects it talks about, and plain ids keep the
queries obvious on both SQLite and Postgres. Deleting a tenant removes its
rows explicitly (see ``relay.web.services.tenants``).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from relay.core.crypto import EncryptedField
from relay.core.enums import DesiredState, MediaStatus, MessageStatus, SessionStatus
from relay.core.ids import new_id


class Tenant(Model):
    id = fields.CharField(max_length=40, primary_key=True)
    name = fields.CharField(max_length=200)
    # Quotas the admin sets (relay.core.quotas); null: unlimited.
    max_sessions = fields.IntField(null=True)
    max_messages_per_day = fields.IntField(null=True)
    max_webhooks = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenants"

    @staticmethod
    def make_id() -> str:
        return new_id("ten")


class ApiKey(Model):
    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40, db_index=True)
    name = fields.CharField(max_length=200, null=True)
    # The first characters of the key, shown in lists so a user can tell keys apart.
    prefix = fields.CharField(max_length=16)
    # SHA-256 of the whole key: API keys are long random strings, so a slow hash buys nothing.
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"

    @staticmethod
    def make_id() -> str:
        return new_id("key")


class Session(Model):
    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40, db_index=True)
    name = fields.CharField(max_length=200)
    engine = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16, default=SessionStatus.STOPPED)
    reason = fields.CharField(max_length=500, null=True)
    desired_state = fields.CharField(max_length=16, default=DesiredState.STOPPED, db_index=True)
    phone = fields.CharField(max_length=32, null=True)
    jid = fields.CharField(max_length=128, null=True)
    last_error = fields.TextField(null=True)
    qr = fields.TextField(null=True)
    qr_expires_at = fields.DatetimeField(null=True)
    # The session's proxy URL (relay.core.proxies), encrypted: it may carry a password.
    encrypted_proxy = EncryptedField(null=True)
    # Pacing: at most this many messages a minute, evenly spaced (workers.send_queue); null: unpaced.
    send_per_minute = fields.IntField(null=True)
    # Fencing: the owner's lease token. Every write an owner makes requires it to match.
    fence = fields.BigIntField(default=0)
    owner = fields.CharField(max_length=100, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "sessions"

    @staticmethod
    def make_id() -> str:
        return new_id("ses")


class Event(Model):
    # The ledger: every envelope ever published, the source of truth for replay.

    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40)
    # The event's place in its tenant's commit order: 1, 2, 3... with no gaps (see TenantSequence).
    seq = fields.BigIntField()
    session_id = fields.CharField(max_length=40, null=True)
    type = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    data: fields.JSONField[dict[str, Any]] = fields.JSONField()

    class Meta:
        table = "events"
        unique_together = (("tenant_id", "seq"),)
        # Readers page by seq; (tenant_id, id) turns a client's cursor (an event id) into its seq.
        indexes = (("tenant_id", "id"), ("tenant_id", "session_id", "seq"), ("tenant_id", "type", "seq"))


class TenantSequence(Model):
    # The last seq given to one tenant's events. The event writer bumps it in the transaction that
    # inserts the events, so the row stays locked until they commit: a tenant's seqs are handed out
    # in commit order, and a rolled-back batch gives its numbers back.

    tenant_id = fields.CharField(max_length=40, primary_key=True)
    last_seq = fields.BigIntField(default=0)

    class Meta:
        table = "tenant_sequences"


class OutboundMessage(Model):
    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40)
    session_id = fields.CharField(max_length=40, db_index=True)
    to = fields.CharField(max_length=128)
    type = fields.CharField(max_length=32)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    status = fields.CharField(max_length=16, default=MessageStatus.QUEUED)
    whatsapp_id = fields.CharField(max_length=128, null=True)
    error = fields.TextField(null=True)
    idempotency_key = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "outbound_messages"
        unique_together = (("tenant_id", "idempotency_key"),)
        # (tenant_id, created_at) counts a tenant's messages of the day for its quota.
        indexes = (("session_id", "status", "created_at"), ("tenant_id", "created_at"))

    @staticmethod
    def make_id() -> str:
        return new_id("msg")


class Media(Model):
    """An inbound media file: what WhatsApp said about it, and where its bytes are (SPEC "Inbound media")."""

    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40)
    session_id = fields.CharField(max_length=40, db_index=True)
    whatsapp_id = fields.CharField(max_length=128)
    type = fields.CharField(max_length=16)
    mimetype = fields.CharField(max_length=200, null=True)
    # What the message declared; the stored file's own size once it is stored.
    size = fields.BigIntField(null=True)
    filename = fields.CharField(max_length=500, null=True)
    sha256 = fields.CharField(max_length=64, null=True)
    status = fields.CharField(max_length=16, default=MediaStatus.PENDING)
    error = fields.TextField(null=True)
    # What the engine needs to fetch the bytes later (workers.media_fetch); never shown.
    reference: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    stored_at = fields.DatetimeField(null=True)

    class Meta:
        table = "media"
        # The retention sweeper reads the oldest rows that still have (or may get) bytes.
        indexes = (("status", "created_at"),)

    @staticmethod
    def make_id() -> str:
        return new_id("med")
