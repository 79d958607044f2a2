"""Field types several bodies share: names, phone numbers, recipients.

The patterns go into the JSON schema for integrators; the checks run in Python so
that a refusal says what is expected rather than quoting a regular expression.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# ASCII classes, matched whole (``fullmatch``): Python's ``\d`` and ``\s`` take Unicode digits and
# spaces that the JSON schema's (ECMAScript) patterns do not, so the two would disagree.
PHONE = re.compile(r"^\+?[0-9]{6,15}$")
JID = re.compile(r"^[0-9A-Za-z._:-]+@(s\.whatsapp\.net|g\.us|lid)$")
# A group's JID: digits (old groups: the creator's number, a dash and a timestamp) on g.us.
GROUP_JID = re.compile(r"^[0-9]{6,20}(-[0-9]{6,20})?@g\.us$")


def _phone_digits(value: str) -> str:
    """``+4915112345678`` becomes ``4915112345678``; ``+49 151...`` is refused."""
    if not PHONE.fullmatch(value):
        raise PydanticCustomError("phone", "must be a phone number: 6 to 15 digits, optionally after a +")
    return value.removeprefix("+")


def _recipient(value: str) -> str:
    """A full JID is kept as given; a phone number loses its ``+``."""
    if JID.fullmatch(value):
        return value
    if PHONE.fullmatch(value):
        return value.removeprefix("+")
    raise PydanticCustomError(
        "recipient",
        "must be a phone number (6 to 15 digits, optional +) or a JID ending in "
        "@s.whatsapp.net, @g.us or @lid",
    )


def user_jid(recipient: str) -> str:
    """A validated ``Recipient`` as a JID: a phone number becomes ``<digits>@s.whatsapp.net``."""
    return recipient if "@" in recipient else f"{recipient}@s.whatsapp.net"


Name = Annotated[str, Field(min_length=1, max_length=200)]

PhoneNumber = Annotated[
    str,
    Field(description="6 to 15 digits, optionally after a +", json_schema_extra={"pattern": PHONE.pattern}),
    AfterValidator(_phone_digits),
]

Recipient = Annotated[
    str,
    Field(
        description="Phone number (6-15 digits, optional leading +) or a JID "
        "ending in @s.whatsapp.net, @g.us or @lid.",
        examples=["+4915112345678", "120363025246125888@g.us"],
        json_schema_extra={"pattern": f"{PHONE.pattern}|{JID.pattern}"},
    ),
    AfterValidator(_recipient),
]

GroupJid = Annotated[
    str,
    Field(
        pattern=GROUP_JID.pattern,
        description="A group's JID: digits on @g.us",
        examples=["120363025246125888@g.us"],
    ),
]
