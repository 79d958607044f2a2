"""Webhook endpoints and the durable delivery outbox."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from relay.core.crypto import EncryptedField
from relay.core.enums import DeliveryStatus, DeliveryTrigger
from relay.core.ids import new_id


class WebhookEndpoint(Model):
    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40, db_index=True)
    url = fields.CharField(max_length=2048)
    events: fields.JSONField[list[str]] = fields.JSONField()
    session_ids: fields.JSONField[list[str] | None] = fields.JSONField(null=True)
    description = fields.CharField(max_length=500, null=True)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=500, null=True)
    # The signing secrets, encrypted (relay.core.crypto); the previous one signs too until it expires.
    encrypted_secret = EncryptedField()
    encrypted_previous_secret = EncryptedField(null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    last_success_at = fields.DatetimeField(null=True)
    failing_since = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoints"

    @staticmethod
    def make_id() -> str:
        return new_id("whk")


class Delivery(Model):
    # One event owed to one endpoint; written in the same transaction as the ledger row.

    id = fields.CharField(max_length=40, primary_key=True)
    tenant_id = fields.CharField(max_length=40)
    endpoint_id = fields.CharField(max_length=40)
    event_id = fields.CharField(max_length=40)
    status = fields.CharField(max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    attempt_log: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    # Becomes MANUAL when someone retries by hand; the next attempt is logged with it, then it resets.
    trigger = fields.CharField(max_length=16, default=DeliveryTrigger.SCHEDULED)
    # The worker batch that holds the delivery while an attempt is in flight, and until when:
    # a killed worker's claims expire and the sweeper hands them to another worker.
    lease_owner = fields.CharField(max_length=40, null=True)
    lease_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_deliveries"
        indexes = (("endpoint_id", "status", "id"), ("status", "next_attempt_at"), ("event_id",))

    @staticmethod
    def make_id() -> str:
        return new_id("dlv")
