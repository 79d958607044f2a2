"""Inbound media, end to end: how long until a received file is stored, and how fast it is read back.

Real ``relay serve`` and ``relay worker`` processes, one linked sandbox session. Each
round a sandbox contact sends one ``--size``-byte image (``POST .../sandbox/inbound``,
base64); measured, as an integrator sees it:

- stored: from that POST to the ``message.media`` event (status ``stored``) on
  ``/v1/events``, polled every 5 ms (the worker's fetch through the engine, the size
  check, the SHA-256, the store's put, the event's commit);
- read: ``GET /v1/media/{id}`` of the whole file (latency and MB/s);
- range: a 64 KiB ``Range`` from the middle of the file.

Medians and p90 over ``--rounds`` rounds. ``--store s3`` keeps the files in moto's
S3 server (``python -m moto.server``, a test extra) on a loopback port instead of the
default directory under the data dir. Everything listens on 127.0.0.1 and every wait
has a timeout.

    python -m bench.media [--rounds 20] [--size 524288] [--store file|s3] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import time

import httpx

from bench.stack import BenchStack, free_port, percentile

POLL_SECONDS = 0.005
WAIT_SECONDS = 30.0
RANGE_BYTES = 64 * 1024
BUCKET = "relay-bench"


def moto_server(stack: BenchStack) -> dict[str, str]:
    """moto's S3 on a free loopback port, a bucket in it, and the AWS variables that point there."""
    port = free_port()
    stack.spawn(sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port), name="moto")
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "RELAY_MEDIA_STORE": f"s3://{BUCKET}/inbound",
    }
    return env


async def create_bucket(stack: BenchStack, endpoint: str) -> None:
    import boto3

    await stack.wait_http_ok(f"{endpoint}/moto-api/data.json", 30, "moto_server")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
    )
    await asyncio.to_thread(client.create_bucket, Bucket=BUCKET)


async def stored_event(
    api: httpx.AsyncClient, auth: dict[str, str], session_id: str, whatsapp_id: str
) -> str:
    params = {"session_id": session_id, "type": "message.media", "limit": 1000}
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        events = (await api.get("/v1/events", params=params, headers=auth)).json()["data"]
        for event in events:
            if event["data"]["whatsapp_id"] == whatsapp_id:
                if event["data"]["media"]["status"] != "stored":
                    raise RuntimeError(f"media not stored: {event['data']['media']}")
                return str(event["data"]["media"]["url"])
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"no message.media for {whatsapp_id} within {WAIT_SECONDS:.0f} s")


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    stack = BenchStack(prefix="relay-bench-media-", database_url=args.database_url, redis_url=None)
    failed = True
    try:
        await stack.start()
        if args.store == "s3":
            extra = moto_server(stack)
            await create_bucket(stack, extra["AWS_ENDPOINT_URL"])
            stack.env.update(extra)
        await stack.start_web()
        stack.spawn_relay("worker")
        auth = await stack.tenant_key()
        (session_id,) = await stack.linked_sessions(auth, 1)
        figures: dict[str, list[float]] = {"stored_ms": [], "read_ms": [], "read_mb_s": [], "range_ms": []}
        for _ in range(args.rounds):
            data = os.urandom(args.size)
            body = {
                "from": "15550100077",
                "type": "image",
                "media": {"base64": base64.b64encode(data).decode()},
            }
            started = time.perf_counter()
            sent = await stack.api.post(f"/v1/sessions/{session_id}/sandbox/inbound", json=body, headers=auth)
            (whatsapp_id,) = sent.raise_for_status().json()["whatsapp_ids"]
            url = await stored_event(stack.api, auth, session_id, whatsapp_id)
            figures["stored_ms"].append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            whole = (await stack.api.get(url, headers=auth)).raise_for_status()
            elapsed = time.perf_counter() - started
            if whole.content != data:
                raise RuntimeError("the file came back different")
            figures["read_ms"].append(elapsed * 1000)
            figures["read_mb_s"].append(args.size / elapsed / 1e6)

            middle = args.size // 2
            wanted = {"Range": f"bytes={middle}-{middle + RANGE_BYTES - 1}", **auth}
            started = time.perf_counter()
            part = await stack.api.get(url, headers=wanted)
            figures["range_ms"].append((time.perf_counter() - started) * 1000)
            if part.status_code != 206 or part.content != data[middle : middle + RANGE_BYTES]:
                raise RuntimeError(f"the range came back wrong ({part.status_code})")
        failed = False
        return figures
    finally:
        await stack.close(keep=failed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--size", type=int, default=512 * 1024, help="bytes per file (the body limit is 1 MiB)"
    )
    parser.add_argument("--store", choices=("file", "s3"), default="file")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    print(f"store={args.store} size={args.size} rounds={args.rounds}")
    for name, values in figures.items():
        print(f"{name:>10}: median {statistics.median(values):8.1f}  p90 {percentile(values, 0.9):8.1f}")


if __name__ == "__main__":
    main()
