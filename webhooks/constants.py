"""Every webhook Redis key and timing constant in one place.

Redis only carries work: the database rows are the truth. Losing any of these
keys delays deliveries by at most ``SWEEP_GRACE_SECONDS`` plus one sweep.
"""

from __future__ import annotations

from relay.core.constants import KEY_PREFIX

# First attempts: a list of delivery ids, popped in batches by every worker.
FRESH_QUEUE = f"{KEY_PREFIX}:webhooks:fresh"
# Retries (and anything the sweeper recovers): a sorted set of delivery ids scored by due time.
DUE_QUEUE = f"{KEY_PREFIX}:webhooks:due"

# Batch sizes: one Redis pop and one database claim serve this many deliveries.
FRESH_BATCH = 256
DUE_BATCH = 256
# Batches a lane may have claims under way for at once (each waits for the writer's next flush).
CLAIMS_IN_FLIGHT = 4
# How long a blocking pop waits before the loop looks around (shutdown, free slots).
POP_BLOCK_SECONDS = 1.0
# The retry lane has nothing to block on, so it polls the due set this often when idle.
DUE_POLL_SECONDS = 0.05

# In-flight attempts per worker process; the two lanes never share slots, so
# a mass of due retries cannot delay fresh first attempts.
FRESH_CONCURRENCY = 512
RETRY_CONCURRENCY = 128
# One endpoint may hold at most this many in-flight attempts per worker; the
# rest wait in the due set (no attempt is counted) so a slow endpoint only slows itself.
ENDPOINT_INFLIGHT_CAP = 64
# Deliveries over the cap are held by the worker (claimed, in memory) and started as the
# endpoint's attempts end: always up to this many per endpoint, and beyond it as long as the
# endpoint's pace says they would start within ENDPOINT_HOLD_SECONDS (a fast endpoint takes a
# whole burst that way; a slow one keeps no more than the cap). The rest are offered again
# ENDPOINT_BUSY_DEFER_SECONDS or more later.
ENDPOINT_WAITING_CAP = 64
ENDPOINT_HOLD_SECONDS = 1.0
# A lane whose slots are all taken looks this often for held deliveries of an endpoint that
# looked fast and turned out slow (none of its attempts ends to show it), to give them back.
FULL_LANE_CHECK_SECONDS = 0.25
ENDPOINT_BUSY_DEFER_SECONDS = 0.25
# While Redis is unreachable, a lane tries again after these pauses (seconds).
LANE_REDIS_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)

# A claimed delivery belongs to its worker until the attempt timeout plus this margin;
# after that (worker killed), the sweeper hands it to another worker.
LEASE_MARGIN_SECONDS = 5.0

# The sweeper (arq cron) runs every SWEEP_EVERY_SECONDS and re-enqueues pending
# deliveries that have been due for longer than SWEEP_GRACE_SECONDS.
SWEEP_EVERY_SECONDS = 2
SWEEP_GRACE_SECONDS = 3.0
SWEEP_LIMIT = 10_000

# Claims and attempt outcomes are written in one transaction per flush, at most this many.
RESULT_FLUSH_BATCH = 500

# A delivery whose endpoint secret this worker cannot decrypt is offered again this much later.
UNREADABLE_SECRET_RETRY_SECONDS = 60.0
# Endpoint rows are cached per worker this long (rotation and disabling show up within it).
ENDPOINT_CACHE_SECONDS = 1.0
# last_success_at is written at most this often per endpoint and worker.
SUCCESS_STAMP_SECONDS = 60.0

# Retry policy.
RETRY_JITTER = 0.2
RETRY_AFTER_MAX_SECONDS = 24 * 3600
# An endpoint failing for this long without a single success is disabled.
AUTO_DISABLE_AFTER_SECONDS = 5 * 24 * 3600

# Attempt log: the first bytes of each response body are kept.
RESPONSE_EXCERPT_BYTES = 20 * 1024

# Secret rotation: the old secret keeps signing for this long by default.
ROTATION_GRACE_SECONDS = 24 * 3600
ROTATION_GRACE_MAX_SECONDS = 7 * 24 * 3600

# Endpoint validation limits (the URL's is the guard's, relay.core.url_guard.URL_MAX_LENGTH).
DESCRIPTION_MAX_LENGTH = 500
EVENT_FILTER_MAX = 100
SESSION_FILTER_MAX = 1000
