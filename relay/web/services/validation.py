"""Field checks for JSON bodies: each failure is a 422 naming the offending field.

Small hand-written checks instead of a schema library: the bodies are few and
flat, and the error wording is part of what integrators see.
"""

from __future__ import annotations

import re
from typing import Any

from relay.core.problems import invalid

_PHONE = re.compile(r"^\+?\d{6,15}$")
_JID = re.compile(r"^[^@\s]+@(s\.whatsapp\.net|g\.us|lid)$")


def require_string(
    body: dict[str, Any], name: str, *, min_length: int = 1, max_length: int | None = None
) -> str:
    value = body.get(name)
    if value is None:
        raise invalid(name, "is required")
    return _check_string(name, value, min_length=min_length, max_length=max_length)


def optional_string(
    body: dict[str, Any], name: str, *, min_length: int = 0, max_length: int | None = None
) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    return _check_string(name, value, min_length=min_length, max_length=max_length)


def _check_string(name: str, value: Any, *, min_length: int, max_length: int | None) -> str:
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if len(value) < min_length:
        message = "must not be empty" if min_length == 1 else f"needs {min_length}+ characters"
        raise invalid(name, message)
    if max_length is not None and len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    return value


def optional_bool(body: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(name, "must be a boolean")
    return value


def require_number(body: dict[str, Any], name: str, *, minimum: float, maximum: float) -> float:
    value = body.get(name)
    if value is None:
        raise invalid(name, "is required")
    # bool is an int subclass; `true` is not a latitude.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name, "must be a number")
    if not minimum <= value <= maximum:
        raise invalid(name, f"must be between {minimum:g} and {maximum:g}")
    return float(value)


def optional_int(
    body: dict[str, Any], name: str, *, minimum: int, maximum: int, default: int | None = None
) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, "must be an integer")
    if not minimum <= value <= maximum:
        raise invalid(name, f"must be between {minimum} and {maximum}")
    return value


def phone_digits(value: Any, name: str) -> str:
    """``+49 151...`` style input is refused; ``+4915112345678`` becomes ``4915112345678``."""
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if not _PHONE.match(value):
        raise invalid(name, "must be a phone number: 6 to 15 digits, optionally after a +")
    return value.removeprefix("+")


def recipient(value: Any, name: str = "to") -> str:
    """A phone number (digits, ``+`` stripped) or a full JID, kept as given."""
    if value is None:
        raise invalid(name, "is required")
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if _JID.match(value):
        return value
    if _PHONE.match(value):
        return value.removeprefix("+")
    raise invalid(
        name,
        "must be a phone number (6 to 15 digits, optional +) or a JID ending in "
        "@s.whatsapp.net, @g.us or @lid",
    )
