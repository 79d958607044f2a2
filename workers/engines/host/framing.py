"""Length-prefixed JSON frames on a byte stream (a child's stdin and stdout).

A frame is a 4-byte big-endian length and the JSON document. Pipes deliver bytes in
order and never duplicate them, so a frame is either whole or the peer is gone.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import orjson

from workers.engines.host.constants import FRAME_HEADER_BYTES, MAX_FRAME_BYTES

Frame = dict[str, Any]

_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The peer sent something that is not a frame: the pipe cannot be trusted any more."""


def encode_frame(frame: Frame) -> bytes:
    body = orjson.dumps(frame)
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return _HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or ``None`` once the peer closed its end (or died) between frames."""
    try:
        header = await reader.readexactly(FRAME_HEADER_BYTES)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("the stream ended inside a frame header") from exc
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise FrameError("the stream ended inside a frame") from exc
    frame = orjson.loads(body)
    if not isinstance(frame, dict):
        raise FrameError("a frame must be a JSON object")
    return frame


class FrameWriter:
    """Writes whole frames; frames from concurrent tasks never interleave (each is one write)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()

    async def send(self, frame: Frame) -> None:
        """Raises ``ConnectionError`` when the peer is gone."""
        if self._writer.is_closing():
            raise ConnectionResetError("the pipe is closed")
        self._writer.write(encode_frame(frame))
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()
