"""What ffmpeg tells about a video or an audio file before it is sent: its length and a preview.

WhatsApp shows a video's length and first frame, and an audio's (a voice note's) length,
from fields of the message itself; without them the player shows 0:00 and no preview.
ffmpeg (``ffprobe`` and ``ffmpeg``, Debian's package ``ffmpeg``) reads them, through
neonize's own wrapper. Where it is not installed, a video or audio message fails with a
reason that says so, before its media is fetched, instead of going out broken.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from neonize.utils.ffmpeg import AFFmpeg

from workers.engines.base import EngineError

NEEDS_FFMPEG = frozenset({"video", "audio"})
FFMPEG_MISSING = (
    "ffmpeg is not installed on the worker: video and audio messages need it for their length "
    "and preview (install the ffmpeg package, e.g. apt-get install ffmpeg)"
)
THUMBNAIL_SIZE = 200


@dataclass(frozen=True, slots=True)
class MediaFacts:
    seconds: int
    thumbnail: bytes | None = None


def ffmpeg_missing() -> bool:
    """Looked up on every send: installing ffmpeg takes effect without a restart."""
    return shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None


def require_ffmpeg(kind: str) -> None:
    if kind in NEEDS_FFMPEG and ffmpeg_missing():
        raise EngineError(FFMPEG_MISSING)


async def media_facts(kind: str, data: bytes) -> MediaFacts:
    """The length (and, for a video, a JPEG of its first frame); ``EngineError`` if ffmpeg cannot read it."""
    require_ffmpeg(kind)
    try:
        async with AFFmpeg(data) as ffmpeg:
            info = await ffmpeg.extract_info()
            seconds = round(float(info.format.duration or 0))
            thumbnail = await ffmpeg.extract_thumbnail(size=THUMBNAIL_SIZE) if kind == "video" else None
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"the {kind} could not be read by ffmpeg: {_first_line(exc)}") from exc
    return MediaFacts(seconds=seconds, thumbnail=thumbnail or None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or ["unknown error"])[0][:300]
