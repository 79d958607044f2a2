"""How the admin commands reach a running Relay: its URL, the token to send, its problems as errors.

The commands talk to Relay's public REST API only, as any integrator does, so they work against a
Relay on another machine and need none of its settings: ``--url`` (``RELAY_URL``, else
``http://127.0.0.1:8080``) and ``--token`` (``RELAY_TOKEN``, else ``RELAY_ADMIN_TOKEN``, else the
``admin_token`` file `relay up` keeps in ``RELAY_DATA_DIR``, ``./.relay`` by default).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DATA_DIR = "./.relay"
ADMIN_TOKEN_FILE = "admin_token"
PROBLEM_CONTENT_TYPE = "application/problem+json"
# The largest page the API serves; a listing follows at most MAX_PAGES of them.
PAGE_SIZE = 100
MAX_PAGES = 10_000
REQUEST_TIMEOUT = 30.0


class ApiError(Exception):
    """Relay refused or could not be reached; ``str()`` is what the user reads."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def resolve_url(explicit: str | None, env: Mapping[str, str]) -> str:
    return (explicit or env.get("RELAY_URL") or DEFAULT_URL).rstrip("/")


def resolve_token(explicit: str | None, env: Mapping[str, str]) -> str:
    """The token to send: the option, RELAY_TOKEN, RELAY_ADMIN_TOKEN, then relay up's admin_token file."""
    for token in (explicit, env.get("RELAY_TOKEN"), env.get("RELAY_ADMIN_TOKEN")):
        if token:
            return token.strip()
    path = Path(env.get("RELAY_DATA_DIR") or DEFAULT_DATA_DIR) / ADMIN_TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    if not token:
        raise ApiError(
            f"no token: pass --token, set RELAY_TOKEN or RELAY_ADMIN_TOKEN, or run where {path} exists"
        )
    return token


def describe_problem(response: httpx.Response) -> str:
    """One readable paragraph from a problem+json answer (or whatever else the server said)."""
    status = f"{response.status_code} {response.reason_phrase}".strip()
    if response.headers.get("content-type", "").startswith(PROBLEM_CONTENT_TYPE):
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            lines = [f"{status}: {problem.get('detail') or problem.get('title') or ''}".rstrip(": ")]
            for error in problem.get("errors") or []:
                lines.append(f"  {error.get('field')}: {error.get('message')}")
            if response.headers.get("retry-after"):
                lines.append(f"  retry after {response.headers['retry-after']} s")
            return "\n".join(lines)
    text = response.text.strip()
    return f"{status}: {text[:300]}" if text else status


class RelayApi:
    """A small synchronous client: one method per HTTP verb the commands use, JSON in and out."""

    def __init__(self, url: str, token: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.url = url
        self._client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def __enter__(self) -> RelayApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params or None)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._send("POST", path, json=body if body is not None else {})

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list route, following its cursors."""
        cursor = None
        for _ in range(MAX_PAGES):
            page = self.get(path, limit=PAGE_SIZE, **params, **({"cursor": cursor} if cursor else {}))
            yield from page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def _send(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self._client.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach Relay at {self.url}: {exc}") from exc
        if response.is_error:
            raise ApiError(describe_problem(response), response.status_code)
        return response.json() if response.content else None
