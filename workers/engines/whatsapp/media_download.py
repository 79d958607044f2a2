"""Inbound media through whatsmeow: what to keep to fetch it later, and the fetch itself.

whatsmeow (neonize 0.5.2) downloads only through a message's ``directPath`` and a
``media_conn`` query over the live websocket, so the reference kept on the media
row is the media message itself (serialized, thumbnail left out): any engine host
that later runs the session can rebuild it and call ``download_any``. The bytes
go straight to a file the worker named under the data dir: they never cross the
host's JSON frames.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from neonize.exc import DownloadError
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from workers.engines.base import EngineError

# The reference's one key: a serialized ``waE2E.Message`` holding only the media message.
WHATSAPP_MESSAGE = "whatsapp_message"


def media_reference(field: str, media: Any) -> dict[str, str]:
    """What ``download`` needs later for ``media`` (the ``field`` of a ``waE2E.Message``)."""
    kept = type(media)()
    kept.CopyFrom(media)
    # The preview is not needed to download and would make every media row kilobytes larger.
    for preview in ("JPEGThumbnail", "jpegThumbnail", "thumbnailDirectPath"):
        if preview in kept.DESCRIPTOR.fields_by_name:
            kept.ClearField(preview)
    message = WAMessage()
    getattr(message, field).CopyFrom(kept)
    return {WHATSAPP_MESSAGE: base64.b64encode(message.SerializeToString()).decode()}


async def download(client: Any, reference: dict[str, Any], destination: Path) -> None:
    """Fetch the media into ``destination``; ``EngineError`` quoting whatsmeow when it cannot."""
    try:
        message = WAMessage.FromString(base64.b64decode(str(reference[WHATSAPP_MESSAGE])))
    except (KeyError, ValueError) as exc:
        raise EngineError("the media reference is not a WhatsApp media message") from exc
    try:
        await client.download_any(message, path=str(destination))
    except DownloadError as exc:
        raise EngineError(f"WhatsApp did not hand over the media: {exc}") from exc
