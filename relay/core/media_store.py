"""Where inbound media bytes live: a directory or any S3-compatible bucket, through obstore.

Both processes use it: the worker puts what the engine fetched, the web reads it
back (or signs a short-lived URL to it) and the retention sweeper deletes it.
``RELAY_MEDIA_STORE`` names the store; an ``s3://bucket/prefix`` store reads the
standard AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` for any S3-compatible service), as obstore does.
Objects are named ``<tenant id>/<media id>``, so one tenant's files sit together.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import ObjectStore, S3Store, from_url

from relay.core.config import Settings

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

# A presigned URL (RELAY_MEDIA_REDIRECT) is good for this long: enough to start a download.
SIGNED_URL_LIFETIME = timedelta(minutes=5)
# Bytes handed to the web's response per chunk.
READ_CHUNK_BYTES = 256 * 1024
# obstore retries a failed request for up to 3 minutes by default; a GET must not hang that long on a
# store that is down, so a few quick retries, then StoreUnavailable (the web answers 503).
STORE_RETRIES: RetryConfig = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=5),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=1)},
}
# A whole request (a part of an upload, or a download streamed to a slow client) may take this long;
# obstore's default, 30 s, would cut a large file's download short.
STORE_CLIENT: ClientConfig = {"connect_timeout": timedelta(seconds=3), "timeout": timedelta(minutes=10)}

__all__ = ["MediaStore", "StoreUnavailable", "StoredRange", "media_key"]


_STORES: dict[str, MediaStore] = {}


class StoreUnavailable(Exception):
    """The media store did not answer, or refused for a reason other than a missing file."""


def media_key(tenant_id: str, media_id: str) -> str:
    return f"{tenant_id}/{media_id}"


@dataclass(frozen=True, slots=True)
class StoredRange:
    """Part (or all) of a stored file: ``start``..``end`` (exclusive) of ``size`` bytes, as a stream."""

    start: int
    end: int
    size: int
    chunks: AsyncIterator[bytes]


class MediaStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_local = url.startswith("file://")
        self._store: ObjectStore = (
            from_url(url, mkdir=True)
            if self.is_local
            else from_url(url, retry_config=STORE_RETRIES, client_options=_client_options())
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaStore:
        """The process's store for ``RELAY_MEDIA_STORE``: one client (and connection pool) shared
        by every session and request, rather than one each."""
        url = settings.media_store_url
        if url not in _STORES:
            _STORES[url] = cls(url)
        return _STORES[url]

    async def put_file(self, key: str, path: Path, *, mimetype: str | None) -> None:
        """Upload a file (in parts when it is large; obstore streams it from disk)."""
        attributes: dict[str, Any] | None = None
        if mimetype and not self.is_local:
            # A presigned GET answers with the type it was stored with; a directory has no attributes.
            attributes = {"Content-Type": mimetype}
        try:
            await obstore.put_async(self._store, key, path, attributes=attributes)
        except BaseError as exc:
            raise StoreUnavailable(_first_line(exc)) from exc

    async def read(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredRange:
        """The file, or ``byte_range`` (start, end exclusive) of it; ``FileNotFoundError`` if absent."""
        options: dict[str, Any] = {"range": byte_range} if byte_range is not None else {}
        try:
            result = await obstore.get_async(self._store, key, options=options)  # type: ignore[arg-type]
        except (NotFoundError, FileNotFoundError) as exc:
            raise FileNotFoundError(key) from exc
        except BaseError as exc:
            raise StoreUnavailable(_first_line(exc)) from exc
        start, end = result.range
        return StoredRange(start, end, result.meta["size"], _chunks(result))

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    async def delete(self, key: str) -> None:
        """Delete a file; one already gone is not an error (a sweep may run twice)."""
        try:
            await obstore.delete_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return
        except BaseError as exc:
            raise StoreUnavailable(_first_line(exc)) from exc

    async def signed_url(self, key: str) -> str:
        """A short-lived GET URL for the file (S3 stores only)."""
        if not isinstance(self._store, S3Store):
            raise TypeError("only an s3:// media store can sign URLs")
        return await obstore.sign_async(self._store, "GET", key, SIGNED_URL_LIFETIME)


def _client_options() -> ClientConfig:
    """``STORE_CLIENT``, and ``AWS_ALLOW_HTTP`` as obstore reads it: options given replace the
    environment's, and a plain-HTTP endpoint (MinIO on a private network, say) needs it."""
    options: ClientConfig = {**STORE_CLIENT}
    if os.environ.get("AWS_ALLOW_HTTP", "").strip().lower() == "true":
        options["allow_http"] = True
    return options


def _first_line(exc: BaseException) -> str:
    """obstore's errors carry a multi-line debug dump after their first line."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


async def _chunks(result: Any) -> AsyncIterator[bytes]:
    async for chunk in result.stream(min_chunk_size=READ_CHUNK_BYTES):
        yield bytes(chunk)
