"""Video and audio messages need ffmpeg: with it they carry their length and preview, without it
they fail with a reason that says what to install, before their media is fetched."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from neonize.proto.Neonize_pb2 import JID, Connected, Device

from tests.engines.conftest import LiveEngine
from workers.engines.base import EngineError, OutgoingMessage
from workers.engines.whatsapp.media_facts import FFMPEG_MISSING, media_facts
from workers.engines.whatsapp.outbound import MEDIA_UPLOAD_TYPES

ME = JID(User="15550100001", Server="s.whatsapp.net", Device=7)
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed here (.ci/run installs it)"
)


def make_media(tmp_path: Path, name: str, *lavfi: str) -> bytes:
    """A real file made by ffmpeg from its test sources (``testsrc``, ``sine``)."""
    out = tmp_path / name
    command = ["ffmpeg", "-v", "error", "-y"]
    for source in lavfi:
        command += ["-f", "lavfi", "-i", source]
    subprocess.run([*command, str(out)], check=True, timeout=60)
    return out.read_bytes()


@needs_ffmpeg
async def test_a_video_gets_its_length_and_a_jpeg_of_its_first_frame(tmp_path: Path) -> None:
    source = "testsrc=duration=2:size=320x240:rate=10"
    video = await asyncio.to_thread(make_media, tmp_path, "clip.mp4", source)
    facts = await media_facts("video", video)
    assert facts.seconds == 2
    assert facts.thumbnail is not None and facts.thumbnail[:3] == b"\xff\xd8\xff"  # a JPEG


@needs_ffmpeg
async def test_a_voice_note_gets_its_length(tmp_path: Path) -> None:
    voice = await asyncio.to_thread(make_media, tmp_path, "voice.ogg", "sine=frequency=440:duration=3")
    facts = await media_facts("audio", voice)
    assert facts.seconds == 3 and facts.thumbnail is None


@needs_ffmpeg
async def test_a_file_ffmpeg_cannot_read_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="the video could not be read by ffmpeg"):
        await media_facts("video", b"this is not a video" * 10)


@pytest.mark.parametrize("kind", ["video", "audio"])
async def test_without_ffmpeg_video_and_audio_fail_with_what_to_install(
    live: LiveEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    # A worker whose PATH has no ffmpeg, as on a machine where it was never installed.
    monkeypatch.setenv("PATH", str(tmp_path))
    await live.feed(Device(JID=ME, PushName="Relay"), Connected(status=True))
    await live.reporter.wait_for(lambda r: "connected" in r.statuses())
    # The media URL is never fetched: nothing listens on port 9 of this machine.
    message = OutgoingMessage(
        id="msg_1", to="15550100002", type=kind, payload={"media": {"url": "http://127.0.0.1:9/x"}}
    )
    with pytest.raises(EngineError) as refused:
        await live.engine.send(message)
    assert str(refused.value) == FFMPEG_MISSING
    assert "apt-get install ffmpeg" in FFMPEG_MISSING


def test_images_and_documents_do_not_need_ffmpeg() -> None:
    from workers.engines.whatsapp.media_facts import NEEDS_FFMPEG

    assert set(MEDIA_UPLOAD_TYPES) - NEEDS_FFMPEG == {"image", "document"}
