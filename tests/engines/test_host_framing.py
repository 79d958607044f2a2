"""The engine hosts' pipe protocol: whole frames or a peer that can no longer be trusted."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

from tests.engines.conftest import make_context
from workers.engines.base import EngineError, GroupNotFound, NotConnected, UnsupportedCommand
from workers.engines.host import wire
from workers.engines.host.constants import MAX_FRAME_BYTES
from workers.engines.host.framing import FrameError, encode_frame, read_frame

PASSWORD = "hunter2-proxy"


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_frames_arrive_whole_and_in_order_then_eof_is_none() -> None:
    reader = reader_of(encode_frame({"type": "call", "id": 1}) + encode_frame({"type": "ack", "seq": 2}))
    assert await read_frame(reader) == {"type": "call", "id": 1}
    assert await read_frame(reader) == {"type": "ack", "seq": 2}
    assert await read_frame(reader) is None


async def test_a_stream_cut_inside_a_frame_or_an_oversized_header_is_an_error() -> None:
    whole = encode_frame({"type": "report", "args": {"text": "é" * 100}})
    with pytest.raises(FrameError, match="inside a frame"):
        await read_frame(reader_of(whole[:-3]))
    with pytest.raises(FrameError, match="inside a frame header"):
        await read_frame(reader_of(whole[:2]))
    with pytest.raises(FrameError, match="exceeds"):
        await read_frame(reader_of(struct.pack(">I", MAX_FRAME_BYTES + 1)))
    with pytest.raises(FrameError, match="JSON object"):
        await read_frame(reader_of(struct.pack(">I", 2) + b"[]"))


def test_the_whole_engine_context_crosses_the_pipe(tmp_path: Path) -> None:
    context = make_context(
        tmp_path,
        jid="15550100001:3@s.whatsapp.net",
        phone="15550100001",
        proxy=f"http://alice:{PASSWORD}@proxy.example:3128",
    )
    again = wire.load_context(wire.dump_context(context))
    assert again == context and again.proxy == context.proxy


def test_a_malformed_context_fails_without_quoting_the_proxy(tmp_path: Path) -> None:
    frame = wire.dump_context(make_context(tmp_path, proxy=f"http://alice:{PASSWORD}@proxy.example:3128"))
    # A missing field: pydantic's own message would quote the whole frame, ending with the proxy.
    del frame["name"]
    with pytest.raises(EngineError, match="name: Field required") as failed:
        wire.load_context(frame)
    # What the host logs and sends back as the call's error.
    reply = wire.dump_error(failed.value)
    assert PASSWORD not in reply["message"] and "proxy.example" not in reply["message"]


def test_engine_errors_keep_their_class_and_words() -> None:
    for error in (NotConnected("no link"), UnsupportedCommand("sandbox only"), GroupNotFound("no group")):
        again = wire.load_error(wire.dump_error(error))
        assert type(again) is type(error) and str(again) == str(error)
    crash = wire.load_error(wire.dump_error(KeyError("phone")))
    assert "KeyError" in str(crash)
