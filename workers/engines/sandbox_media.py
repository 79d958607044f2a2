"""The sandbox phone's inbound media: a contact sends an image, video, voice note or document.

The bytes come in ``sandbox/inbound`` as base64 and are kept in a file under the
session's data dir, standing in for WhatsApp's servers; the message's ``media``
reference names that file, and ``download`` copies it out when the worker fetches
the media, as the real engine fetches from WhatsApp. So the store, the events,
``RELAY_MEDIA_DOWNLOAD`` and the size limit run exactly as for a real session.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from pathlib import Path
from typing import Any

from relay.core.enums import MediaDownload
from workers.engines.base import MEDIA_REFERENCE, EngineContext, EngineError
from workers.engines.media import decode_media

# What a contact may send the sandbox, and the type a file gets when the caller names none.
SANDBOX_MEDIA_TYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
    "document": "application/octet-stream",
}
# The reference's one key: the file's name in the session's sandbox media folder.
SANDBOX_FILE = "sandbox_file"


def media_folder(context: EngineContext) -> Path:
    return context.data_dir / "sandbox-media" / context.session_id


async def receive(context: EngineContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Keep the sent bytes and describe them as a real phone's message does (``media`` of the event)."""
    spec = params.get("media")
    if not isinstance(spec, dict) or not spec.get("base64"):
        raise EngineError(f"a sandbox {kind} needs media: {{base64: ...}}")
    # Decoded without Relay's own limit: a file past RELAY_MEDIA_MAX_BYTES must reach the
    # worker's check, as an oversized WhatsApp file does. The request body limit bounds it.
    data = decode_media(str(spec["base64"]), limit=len(str(spec["base64"])))
    name = secrets.token_hex(16)
    if context.settings.media_download != MediaDownload.OFF:
        # Nothing will ever fetch it when downloads are off: keep nothing.
        await asyncio.to_thread(_write, media_folder(context) / name, data)
    described: dict[str, Any] = {
        "type": kind,
        "mimetype": params.get("mimetype") or SANDBOX_MEDIA_TYPES[kind],
        "size": len(data),
        "caption": str(params.get("caption") or ""),
        MEDIA_REFERENCE: {SANDBOX_FILE: name},
    }
    if kind == "document":
        described["filename"] = params.get("filename") or None
    elif params.get("filename"):
        described["filename"] = params["filename"]
    if kind == "audio":
        described["ptt"] = bool(params.get("ptt"))
    return described


async def download(context: EngineContext, reference: dict[str, Any], destination: Path) -> None:
    name = str(reference.get(SANDBOX_FILE, ""))
    source = media_folder(context) / name
    if not name.isalnum() or not source.is_file():
        raise EngineError("the sandbox no longer has this media")
    await asyncio.to_thread(shutil.copyfile, source, destination)


async def forget(context: EngineContext) -> None:
    """Drop the files kept for the session (it is logged out or deleted)."""
    await asyncio.to_thread(shutil.rmtree, media_folder(context), ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
