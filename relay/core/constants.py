"""The Redis key names and timings the core, the web process and the workers share (arq's habit).

A newcomer reading Redis with ``redis-cli --scan`` should be able to find the
code that owns each key by grepping for its prefix here; webhook delivery keeps
its own keys and timings in ``webhooks.constants``.
"""

from __future__ import annotations

KEY_PREFIX = "relay"

# Ledger reads (feed replay, webhook replay) hold this many events in memory at a time.
LEDGER_PAGE = 500

# The live feed: one capped stream per tenant, written after the ledger commit.
TENANT_STREAM_MAXLEN = 10_000


def tenant_stream_key(tenant_id: str) -> str:
    return f"{KEY_PREFIX}:tenant:{tenant_id}:events"


# Commands for one session travel on a durable stream read by its owner through a group.
COMMAND_GROUP = "owner"
COMMAND_STREAM_MAXLEN = 10_000


def session_commands_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:session:{session_id}:commands"


def command_result_key(command_id: str) -> str:
    return f"{KEY_PREFIX}:result:{command_id}"


# A result waits this long for the caller that asked for it, then is dropped.
COMMAND_RESULT_TTL = 60
# A caller waits for a result in blocking pops of at most this long each, so no single read outlasts
# REDIS_READ_TIMEOUT (a hung Redis is noticed instead of waited on).
COMMAND_WAIT_SLICE = 2.0


# Session ownership: one lease per session, fenced by a monotonically increasing token.
def session_lease_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:lease:session:{session_id}"


def session_fence_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:fence:session:{session_id}"


def session_lifecycle_lock_key(session_id: str) -> str:
    return f"{KEY_PREFIX}:lock:session:{session_id}"


# Pub/sub channel: the web process publishes a session id when its desired state changes, so
# supervisors look for work at once instead of at their next poll.
SUPERVISOR_WAKE_CHANNEL = f"{KEY_PREFIX}:supervisor:wake"

# How often a supervisor looks for sessions that want to run and have no owner.
SUPERVISOR_POLL_SECONDS = 1.0

# Placement: each supervisor says how full it is, so a full one can tell whether any worker has room.
WORKERS_KEY = f"{KEY_PREFIX}:workers"
PLACEMENT_LOCK_KEY = f"{KEY_PREFIX}:lock:placement"
# The reason of a session that wants to run while every worker is full; the web counts them by it.
UNPLACED_REASON_PREFIX = "waiting for capacity"


def worker_room_key(worker_id: str) -> str:
    return f"{KEY_PREFIX}:worker:{worker_id}:room"


# How long lifecycle operations on one session may wait for each other.
LIFECYCLE_LOCK_TIMEOUT = 30.0
LIFECYCLE_LOCK_WAIT = 10.0

# The WebSocket feed.
WS_AUTH_TIMEOUT = 10.0
WS_SEND_BUFFER = 1_000  # events queued for one socket before it is closed with 1013
WS_MAX_FRAME_BYTES = 64 * 1024
WS_READER_BLOCK_MS = 1_000
WS_REPLAY_LIMIT = 10_000
# One frame may wait this long for a slow client's socket before it is closed with 1013.
WS_WRITE_TIMEOUT = 2.0
# How often the feed's watchdog looks for writes older than WS_WRITE_TIMEOUT.
WS_WATCHDOG_INTERVAL = 0.25
# A closing frame to a stalled client gets this long before the TCP connection is dropped.
WS_CLOSE_TIMEOUT = 10.0


# Revocation: the web process that revokes an API key (or deletes a tenant) publishes its key ids here,
# and every web process closes the sockets the keys opened and forgets them.
CREDENTIALS_REVOKED_CHANNEL = f"{KEY_PREFIX}:auth:revoked"
# A web process trusts its memory that a key exists (for JWTs) this long, and re-checks the keys
# of its open sockets this often: the bound on a revocation whose announcement was lost.
KEY_CHECK_SECONDS = 30.0


def ws_wake_key(reader_id: str) -> str:
    """A private stream per web process: one XADD wakes its blocked feed reader."""
    return f"{KEY_PREFIX}:ws:wake:{reader_id}"


# Outages. No request waits on an unreachable dependency longer than these before it is answered
# with 503 and Retry-After (SPEC "Outages"); a dependency that is down, not just slow, refuses
# connections at once and the answer is immediate.
DATABASE_CONNECT_TIMEOUT = 3.0
# Waiting for a free pooled connection: when every connection is stuck on a hung database.
DATABASE_ACQUIRE_TIMEOUT = 5.0
# One statement of a serving process (migrations have none: a long ALTER is not an outage).
DATABASE_QUERY_TIMEOUT = 10.0
REDIS_CONNECT_TIMEOUT = 3.0
# One reply from Redis, for the clients that opt in (the web process); longer than any blocking read
# they issue (COMMAND_WAIT_SLICE).
REDIS_READ_TIMEOUT = 5.0
# What a 503 tells the client: retry after this many seconds.
OUTAGE_RETRY_AFTER = 5
# /readyz answers within this even when a dependency hangs.
READY_CHECK_TIMEOUT = 2.0
# /metrics on the web process reads cluster-wide figures from the database; each query may take
# this long, after which its series is left out of the scrape rather than holding it up.
METRICS_QUERY_TIMEOUT = 2.0

# arq's queue: it only schedules the webhook sweeper (deliveries run outside arq, see webhooks.worker).
ARQ_QUEUE = f"{KEY_PREFIX}:arq"

# The event writer (relay.core.writer): one per process, one transaction per batch of groups.
# A batch closes at this many events...
WRITER_BATCH_EVENTS = 1_000
# ...or once it has waited this long for the callers of the previous batch to come back.
WRITER_BATCH_WAIT = 0.002
# A batch waits at most this long for a row lock (a tenant's seq counter another process holds),
# and PostgreSQL ends a batch's transaction that sits idle this long (its writer hangs).
WRITER_LOCK_TIMEOUT_MS = 5_000
WRITER_IDLE_TIMEOUT_MS = 15_000
# The batch's one Redis pipeline (feed appends and delivery dispatch) may take this long.
WRITER_REDIS_TIMEOUT = 2.0

# The feed's commit order: a tenant's entries reach sockets strictly by seq. An entry that
# arrives after a gap waits this long for the missing ones before they are read from the ledger...
FEED_GAP_WAIT = 0.5
# ...and at most this many entries wait; past that the gap is read from the ledger at once.
FEED_HOLD_LIMIT = 10_000
# How often the feed compares each followed tenant's last committed seq with what it has
# handed out, so an event whose stream append was lost reaches sockets even if none follows it.
FEED_TAIL_CHECK_SECONDS = 2.0

# Inbound media (workers.media_sweeper): how often the retention sweeper runs, and how many
# files one sweep removes at most (the next sweep takes the rest).
MEDIA_SWEEP_EVERY_SECONDS = 10
MEDIA_SWEEP_LIMIT = 500
