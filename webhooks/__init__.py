"""Outbound webhooks: signed, durable, retried, guarded, replayable.

Where things happen:

- ``outbox``: the seam with the event pipeline: ``install()``, called by each
  process at start-up, registers the step of ``publish_event`` that writes the
  delivery rows in the ledger transaction, then nudges Redis;
- ``deliverer``: the engine in each worker (claims, per-endpoint cap and
  holds, attempts); ``lanes`` pop the fresh and retry queues and feed it,
  ``endpoint_health`` disables endpoints that are gone or keep failing;
  ``sender`` does one signed HTTP attempt,
  ``signing`` the Standard Webhooks signatures, ``retry`` the schedule;
- ``writer`` and ``store``: batched claims and outcomes in the database;
  ``queue``: the Redis side; ``sweeper``: what Redis lost, found again;
- the SSRF guard (registration and connect time) is ``relay.core.url_guard``,
  shared with media fetches;
- ``service`` and ``schemas``: what the REST routes do; ``worker``: the hooks
  the arq worker calls.
"""
