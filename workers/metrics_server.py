"""The worker's ``/metrics``: its own counters plus what it holds now (sessions, engine hosts).

Served by aiohttp on the worker's event loop, so the collector reads the supervisor's and the
engine-host pool's state between two of their steps, never halfway through one. It binds to
``RELAY_WORKER_METRICS_HOST``:``RELAY_WORKER_METRICS_PORT`` (``0`` turns it off); a port already
taken is logged and the worker runs on without metrics rather than not at all.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from relay.core.config import Settings
from relay.core.enums import SessionStatus
from workers.engines.host.pool import EngineHostPool, current_engine_hosts
from workers.engines.host.resources import process_usage

log = logging.getLogger("relay.worker.metrics")


class WorkerStateCollector(Collector):
    """Gauges read at scrape time from what this worker runs now."""

    def __init__(
        self,
        statuses: Callable[[], list[SessionStatus]],
        pool: Callable[[], EngineHostPool | None] = current_engine_hosts,
    ) -> None:
        self._statuses = statuses
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        owned = GaugeMetricFamily(
            "relay_worker_sessions", "Sessions this worker owns, by status", labels=["status"]
        )
        counts = Counter(self._statuses())
        for status in SessionStatus:
            owned.add_metric([status.value], counts.get(status, 0))
        yield owned
        pool = self._pool()
        hosts = [host for host in (pool.hosts if pool else []) if host.alive]
        yield GaugeMetricFamily("relay_engine_hosts", "Engine host processes this worker runs", len(hosts))
        sessions = GaugeMetricFamily(
            "relay_engine_host_sessions", "WhatsApp sessions in each engine host", labels=["pid"]
        )
        fds = GaugeMetricFamily(
            "relay_engine_host_open_fds", "Open file descriptors of each engine host", labels=["pid"]
        )
        rss = GaugeMetricFamily(
            "relay_engine_host_resident_bytes", "Resident memory of each engine host", labels=["pid"]
        )
        for host in hosts:
            pid = str(host.pid)
            sessions.add_metric([pid], len(host.sessions))
            usage = process_usage(host.pid)
            if usage is not None:  # it exited since: no sample rather than a stale one
                fds.add_metric([pid], usage.fds)
                rss.add_metric([pid], usage.rss_bytes)
        yield sessions
        yield fds
        yield rss


class WorkerMetricsServer:
    def __init__(self, settings: Settings, statuses: Callable[[], list[SessionStatus]]) -> None:
        # Unset, the worker listens where the web process does (RELAY_HOST).
        self.host = settings.worker_metrics_host or settings.host
        self.port = settings.worker_metrics_port
        self._state = CollectorRegistry(auto_describe=False)
        self._state.register(WorkerStateCollector(statuses))
        self._runner: web.AppRunner | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(REGISTRY) + generate_latest(self._state)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        if self.port == 0:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            log.warning(
                "worker metrics not served: cannot listen on %s:%d (%s); set RELAY_WORKER_METRICS_PORT "
                "(0 turns them off)",
                self.host,
                self.port,
                exc,
            )
            await runner.cleanup()
            return
        self._runner = runner
        log.info("worker metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
