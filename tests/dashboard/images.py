"""A tiny PNG written by hand (zlib and struct), so a story knows every pixel it sent."""

from __future__ import annotations

import struct
import zlib

Pixel = tuple[int, int, int]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(rows: list[list[Pixel]]) -> bytes:
    """An 8-bit RGB PNG of ``rows`` (each a list of (r, g, b)), unfiltered."""
    height, width = len(rows), len(rows[0])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def checkerboard(width: int, height: int) -> list[list[Pixel]]:
    """Four colours in a pattern no decoder could get right by accident."""
    colours: list[Pixel] = [(220, 20, 60), (30, 144, 255), (255, 215, 0), (34, 139, 34)]
    return [[colours[(x // 2 + y // 2 + x * y) % 4] for x in range(width)] for y in range(height)]
