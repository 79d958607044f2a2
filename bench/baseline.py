"""The naive webhook pipeline every benchmark compares Relay with: arq + httpx, one job per delivery.

- publishing (``baseline_publish``): one transaction per event (counter bump,
  ledger row, delivery rows), then one arq job per delivery;
- delivering (``baseline_deliver``, run by ``python -m bench.baseline``): the job
  loads its delivery, event and endpoint rows, decrypts the secret, signs,
  POSTs with a plain ``httpx.AsyncClient`` and saves the row. arq defaults,
  except ``max_jobs=100`` so the baseline is not starved of concurrency.

The worker reads ``DATABASE_URL``, ``REDIS_URL`` and ``RELAY_ENCRYPTION_KEY`` from
its environment, as Relay's processes do.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

BASELINE_QUEUE = "bench:baseline"


async def create_endpoints(tenant_id: str, urls: list[str], events: list[str]) -> list[str]:
    """Endpoint rows as the API would write them (secret encrypted); needs the keys installed."""
    from relay.core.crypto import encrypt_secret
    from webhooks.models import WebhookEndpoint
    from webhooks.signing import generate_secret

    ids = []
    for url in urls:
        endpoint = await WebhookEndpoint.create(
            id=WebhookEndpoint.make_id(),
            tenant_id=tenant_id,
            url=url,
            events=events,
            encrypted_secret=encrypt_secret(generate_secret()),
        )
        ids.append(endpoint.id)
    return ids


async def baseline_publish(arq: Any, tenant_id: str, endpoint_ids: list[str], data: dict[str, Any]) -> None:
    """The obvious implementation: one transaction per event, then one arq job per delivery."""
    from tortoise.transactions import in_transaction

    from relay.core.ids import new_id
    from relay.core.models import Event
    from webhooks.models import Delivery

    now = datetime.now(UTC)
    event_id = new_id("evt")
    deliveries = [
        Delivery(
            id=Delivery.make_id(), tenant_id=tenant_id, endpoint_id=e, event_id=event_id, next_attempt_at=now
        )
        for e in endpoint_ids
    ]
    async with in_transaction() as connection:
        # The ledger's per-tenant seq, the obvious way: one counter bump per event.
        [counter] = await connection.execute_query_dict(
            "INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ({}, 1) ON CONFLICT (tenant_id)"
            " DO UPDATE SET last_seq = tenant_sequences.last_seq + 1 RETURNING last_seq".format(
                "$1" if connection.capabilities.dialect == "postgres" else "?"
            ),
            [tenant_id],
        )
        await Event.create(
            id=event_id,
            tenant_id=tenant_id,
            seq=counter["last_seq"],
            session_id=None,
            type="message.received",
            created_at=now,
            data=data,
            using_db=connection,
        )
        await Delivery.bulk_create(deliveries, using_db=connection)
    for delivery in deliveries:
        await arq.enqueue_job("baseline_deliver", delivery.id, _queue_name=BASELINE_QUEUE)


async def baseline_deliver(ctx: dict[str, Any], delivery_id: str) -> None:
    """One job, three reads, one decryption, one POST, one write."""
    from relay.core.crypto import decrypt_secret
    from relay.core.enums import DeliveryStatus
    from relay.core.events import envelope_of
    from relay.core.models import Event
    from webhooks.models import Delivery, WebhookEndpoint
    from webhooks.signing import WebhookSigner

    delivery = await Delivery.get(id=delivery_id)
    event = await Event.get(id=delivery.event_id)
    endpoint = await WebhookEndpoint.get(id=delivery.endpoint_id)
    body = orjson.dumps(envelope_of(event))
    signer = WebhookSigner([decrypt_secret(endpoint.encrypted_secret)])
    headers = signer.headers(event.id, int(time.time()), body)
    started = time.perf_counter()
    response = await ctx["client"].post(
        endpoint.url, content=body, headers={**headers, "content-type": "application/json"}
    )
    delivery.attempts += 1
    delivery.status = DeliveryStatus.SUCCEEDED if response.is_success else DeliveryStatus.PENDING
    delivery.last_status_code = response.status_code
    delivery.attempt_log = [
        *delivery.attempt_log,
        {"status_code": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000)},
    ]
    await delivery.save()


def run_baseline_worker() -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    from relay.core.crypto import install_keys, parse_keys
    from relay.core.db import close_database, open_database

    install_keys(parse_keys(os.environ["RELAY_ENCRYPTION_KEY"]))

    async def startup(ctx: dict[str, Any]) -> None:
        await open_database(os.environ["DATABASE_URL"])
        ctx["client"] = httpx.AsyncClient(timeout=15)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["client"].aclose()
        await close_database()

    async def main() -> None:
        worker = Worker(
            functions=[baseline_deliver],
            redis_settings=RedisSettings.from_dsn(os.environ["REDIS_URL"]),
            queue_name=BASELINE_QUEUE,
            on_startup=startup,
            on_shutdown=shutdown,
            max_jobs=100,
        )
        try:
            await worker.async_run()
        finally:
            await worker.close()

    asyncio.run(main())


if __name__ == "__main__":
    run_baseline_worker()
