"""Relay's vocabulary: every state and kind that crosses a module boundary, named once.

Tables keep plain text columns (a ``StrEnum`` member *is* its text), so rows
written before these names existed read back unchanged, and SPEC's strings are
exactly the values below.
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """What a session is doing now (SPEC "Session states"); set only by its owner."""

    STARTING = "starting"
    QR = "qr"
    PAIRING = "pairing"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LOGGED_OUT = "logged_out"
    FAILED = "failed"
    STOPPED = "stopped"


# The engine has ended: nothing runs for the session until someone starts it again.
SETTLED_STATUSES = frozenset({SessionStatus.STOPPED, SessionStatus.LOGGED_OUT, SessionStatus.FAILED})


class DesiredState(StrEnum):
    """What the API asked for; the supervisor makes the status follow it."""

    RUNNING = "running"
    STOPPED = "stopped"
    LOGOUT = "logout"  # a logout is pending: unlink, erase credentials, then settle as logged_out
    DELETED = "deleted"  # the session is being deleted: erase credentials, then drop the row


# Desired states that need a worker to act, even if the session is settled.
OWNED_DESIRED_STATES = frozenset({DesiredState.RUNNING, DesiredState.LOGOUT, DesiredState.DELETED})


class EngineKind(StrEnum):
    SANDBOX = "sandbox"
    WHATSAPP = "whatsapp"


class MessageStatus(StrEnum):
    """An outbound message's life (SPEC "outbound message")."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class MessageType(StrEnum):
    """What an outbound message carries (SPEC "outbound message"); the engine sends each kind its way."""

    TEXT = "text"
    REACTION = "reaction"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    LOCATION = "location"


MEDIA_MESSAGE_TYPES = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT}
)


class AckStatus(StrEnum):
    """What a ``message.ack`` reports about messages already sent."""

    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"


class DeliveryStatus(StrEnum):
    """A webhook delivery: pending until an attempt succeeds or the schedule gives up."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeliveryTrigger(StrEnum):
    """Why an attempt ran; shown in the attempt log."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"


class CommandKind(StrEnum):
    """What the web process may ask a session's owner to do (``relay.core.commands``)."""

    START = "start"
    STOP = "stop"
    LOGOUT = "logout"
    SEND = "send"
    PAIR_CODE = "pair_code"
    CONTACTS_CHECK = "contacts_check"
    READ = "read"
    PRESENCE = "presence"
    SANDBOX_SCAN = "sandbox.scan"
    SANDBOX_INBOUND = "sandbox.inbound"
    SANDBOX_DROP = "sandbox.drop"
    SANDBOX_LOGOUT = "sandbox.logout"
    SANDBOX_SEEN = "sandbox.seen"
    GROUPS = "groups"
    SANDBOX_JOIN_GROUP = "sandbox.join-group"
    MEDIA_FETCH = "media_fetch"


class EventType(StrEnum):
    """Every event type in the ledger, on webhooks and on the feed (SPEC "Events")."""

    SESSION_STATUS = "session.status"
    SESSION_QR = "session.qr"
    SESSION_PAIR_CODE = "session.pair_code"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_ACK = "message.ack"
    WEBHOOK_TEST = "webhook.test"
    WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled"
    GROUP_JOINED = "group.joined"
    GROUP_UPDATED = "group.updated"
    GROUP_PARTICIPANTS = "group.participants"
    SESSION_SYNCED = "session.synced"
    MESSAGE_MEDIA = "message.media"


# The events an engine reports about a group (SPEC "Groups").
GROUP_EVENT_TYPES = frozenset({EventType.GROUP_JOINED, EventType.GROUP_UPDATED, EventType.GROUP_PARTICIPANTS})


class GroupAction(StrEnum):
    """What a ``groups`` command asks of the session's engine (SPEC "Groups")."""

    LIST = "list"
    INFO = "info"
    CREATE = "create"
    UPDATE = "update"
    PARTICIPANTS = "participants"
    LEAVE = "leave"
    INVITE_LINK = "invite_link"


class ParticipantChange(StrEnum):
    """What ``POST .../groups/{jid}/participants`` does to a number; ``group.participants`` says it too."""

    ADD = "add"
    REMOVE = "remove"
    PROMOTE = "promote"
    DEMOTE = "demote"


class ParticipantRole(StrEnum):
    """A group member's standing: the creator is ``superadmin``."""

    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    MEMBER = "member"


class LogFormat(StrEnum):
    """How every process writes its log lines (``RELAY_LOG_FORMAT``)."""

    TEXT = "text"
    JSON = "json"  # one JSON object a line, for a log shipper (relay.core.logging_setup)


class MediaStatus(StrEnum):
    """An inbound media file's bytes (SPEC "Inbound media"); ``expired`` once retention removed them."""

    PENDING = "pending"
    STORED = "stored"
    UNAVAILABLE = "unavailable"
    EXPIRED = "expired"


class MediaDownload(StrEnum):
    """When the bytes of inbound media are fetched (``RELAY_MEDIA_DOWNLOAD``)."""

    EAGER = "eager"
    LAZY = "lazy"
    OFF = "off"


# Inbound message types whose ``media`` has bytes Relay can fetch and store.
INBOUND_MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
