"""`relay qr SESSION`: the session's QR code in the terminal, redrawn when it changes, until linked.

It follows the session over the REST API (a GET a second): a QR code lives 20 s or more, so
a poll a second shows each new one in time, and nothing beyond the API is needed. Rendered by
segno in half-height blocks (``compact``) so it fits an ordinary terminal; phones scan it as
they scan the PNG from ``GET /v1/sessions/{id}/qr``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import segno

from relay.cli.api_client import ApiError, RelayApi

POLL_SECONDS = 1.0
# Longer than WhatsApp's whole QR window (160 s), so the last code is shown before giving up.
DEFAULT_TIMEOUT = 200.0
WAITING = frozenset({"starting", "reconnecting"})
LINKING = frozenset({"qr", "pairing"})


def render_qr(code: str, out: TextIO) -> None:
    """The terminal rendering the tests compare against (make_qr: never a Micro QR phones refuse)."""
    segno.make_qr(code).terminal(out=out, compact=True)


def follow_qr(
    api: RelayApi, session_id: str, *, timeout: float = DEFAULT_TIMEOUT, out: TextIO = sys.stdout
) -> int:
    """Print each new QR until the session connects (0) or ends, is stopped or time runs out (1)."""
    deadline = time.monotonic() + timeout
    shown: str | None = None
    said_waiting = False
    while time.monotonic() < deadline:
        session = api.get(f"/v1/sessions/{session_id}")
        status = session["status"]
        if status == "connected":
            print(f"Session {session_id} is connected as {session.get('phone') or 'its phone'}.", file=out)
            return 0
        if status in LINKING:
            code = _current_code(api, session_id)
            if code is not None and code["qr"] != shown:
                shown = code["qr"]
                _show(code, session_id, out)
        elif status not in WAITING and (status == "failed" or session["desired_state"] != "running"):
            reason = session.get("reason") or session.get("last_error") or "no reason given"
            print(f"relay: session {session_id} is {status}: {reason}", file=sys.stderr)
            return 1
        elif not said_waiting:
            print(f"Waiting for session {session_id} to show a QR code (it is {status})...", file=out)
            said_waiting = True
        out.flush()
        time.sleep(POLL_SECONDS)
    print(f"relay: session {session_id} did not connect within {timeout:g} s", file=sys.stderr)
    return 1


def _current_code(api: RelayApi, session_id: str) -> dict[str, Any] | None:
    try:
        code: dict[str, Any] = api.get(f"/v1/sessions/{session_id}/qr")
    except ApiError as exc:
        if exc.status == 409:  # it left qr between the two reads: the next round sees where it went
            return None
        raise
    return code


def _show(code: dict[str, Any], session_id: str, out: TextIO) -> None:
    print(f"\nScan with WhatsApp > Linked devices > Link a device (session {session_id}):", file=out)
    render_qr(code["qr"], out)
    if code.get("expires_at"):
        print(f"This code expires at {code['expires_at']}; a new one is shown when it changes.", file=out)
