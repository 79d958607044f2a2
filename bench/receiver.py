"""The benchmarks' webhook receiver: a lean HTTP/1.1 server that records when each event arrives.

It shares two CPU cores with everything it measures, so it is a bare asyncio
protocol on uvloop with httptools parsing (no framework): each delivery costs it
a few microseconds, which leaves the CPU to the pipelines under test.

Routes (any method):
- ``/hook/<n>``: a delivery. The first arrival of each (path, event id) pair is
  recorded, with its latency from ``data.t`` (a unix time the publisher put in
  the event) or else from the envelope's ``created_at``;
- ``/stats``: ``{"count", "first", "last", "latencies"}`` as JSON;
- ``/reset``: forget everything.

    python -m bench.receiver --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any

import httptools
import orjson
import uvloop

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


class Recorder:
    def __init__(self) -> None:
        self.seen: set[tuple[bytes, str]] = set()
        self.arrivals: list[float] = []
        self.latencies: list[float] = []

    def delivery(self, path: bytes, body: bytes) -> None:
        now = time.time()
        envelope = orjson.loads(body)
        key = (path, envelope["id"])
        if key in self.seen:
            return
        self.seen.add(key)
        self.arrivals.append(now)
        data = envelope.get("data") or {}
        if isinstance(data.get("t"), float):
            created = data["t"]
        else:
            created = datetime.fromisoformat(envelope["created_at"].replace("Z", "+00:00")).timestamp()
        self.latencies.append(now - created)

    def stats(self) -> bytes:
        return orjson.dumps(
            {
                "count": len(self.arrivals),
                "first": min(self.arrivals, default=0),
                "last": max(self.arrivals, default=0),
                "latencies": self.latencies,
            }
        )

    def reset(self) -> None:
        self.seen.clear()
        self.arrivals.clear()
        self.latencies.clear()


class ReceiverProtocol(asyncio.Protocol):
    """One connection: requests parsed as they stream in, answered in order, keep-alive."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        answer = OK
        if url.startswith(b"/hook/"):
            self.recorder.delivery(url, body)
        elif url == b"/stats":
            payload = self.recorder.stats()
            answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
                len(payload),
                payload,
            )
        elif url == b"/reset":
            self.recorder.reset()
        if not self.parser.should_keep_alive():
            self.transport.write(OK_CLOSE if answer is OK else answer)
            self.transport.close()
            return
        self.transport.write(answer)


async def serve(port: int) -> None:
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ReceiverProtocol(recorder), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
