"""The `relay` command: `up` for a laptop, `serve` / `worker` / `migrate` for production."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time

from relay.cli.admin import ADMIN_COMMANDS
from relay.cli.admin import main as admin_main
from relay.cli.keys import cmd_rotate_key
from relay.core.config import MAX_PORT, ConfigError, Settings, read_or_create_secret
from relay.core.constants import WS_MAX_FRAME_BYTES
from relay.core.crypto import install_keys
from relay.core.logging_setup import configure_logging, logging_config


def cmd_migrate(settings: Settings) -> int:
    from relay.core.db import apply_migrations

    asyncio.run(apply_migrations(settings.database_url))
    print("migrations applied", flush=True)
    return 0


def cmd_serve(settings: Settings) -> int:
    import uvicorn

    settings.require_redis_url()
    uvicorn.run(
        "relay.web.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Relay's handler and format for uvicorn's lines too (access log included): one format a process.
        log_config=logging_config(settings.log_level, settings.log_format),
        proxy_headers=True,
        ws_max_size=WS_MAX_FRAME_BYTES,
        # permessage-deflate doubles per-socket memory and p50 latency for small JSON frames.
        ws_per_message_deflate=False,
        lifespan="on",
        # Measured with bench/ws_fanout.py (docs/websocket-feed.md): the sans-I/O websockets
        # protocol delivers 1.4x what wsproto does at 2,000-10,000 sockets for 2 KiB more per
        # socket; the legacy one costs 7 KiB more per socket (three tasks per connection).
        # Named, not "auto", so installing wsproto cannot change it.
        ws="websockets-sansio",
    )
    return 0


def cmd_worker(settings: Settings) -> int:
    from workers.settings import run_worker

    settings.require_redis_url()
    run_worker(settings)
    return 0


def cmd_engine_host(settings: Settings) -> int:
    """A child of a worker: runs its WhatsApp clients, driven over stdin/stdout (never by hand)."""
    from workers.engines.host.server import run_engine_host

    run_engine_host(settings.engine_host_sessions)
    return 0


def _spawn(role: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    from relay.cli.launch import relay_command
    from relay.cli.processes import terminate_with_parent

    # Each child in its own session, out of the terminal's process group: Ctrl-C reaches relay up
    # alone, which stops web and worker (leases released) before Valkey, not all at the same moment.
    return subprocess.Popen(
        relay_command(role), env=env, start_new_session=True, preexec_fn=terminate_with_parent
    )


def cmd_up(settings: Settings, workers: int = 1) -> int:
    """Everything on one machine: embedded Valkey, SQLite, one web and ``workers`` worker processes.

    More workers share the sessions (each owns at most ``RELAY_WORKER_CAPACITY``) and the webhook
    deliveries; a worker that dies is restarted and its sessions move to the others meanwhile.
    """
    last_metrics_port = settings.worker_metrics_port + workers - 1
    if settings.worker_metrics_port and last_metrics_port > MAX_PORT:
        raise ConfigError(
            f"RELAY_WORKER_METRICS_PORT leaves no port for worker {workers - 1} (port + i > {MAX_PORT})"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    valkey = None
    if not settings.redis_url:
        from relay.cli.embedded import start_embedded_valkey

        valkey = start_embedded_valkey(settings.data_dir / "valkey")
        env["REDIS_URL"] = valkey.connection_url
    admin_token = settings.admin_token or read_or_create_secret(settings.data_dir / "admin_token")
    env["RELAY_ADMIN_TOKEN"] = admin_token
    env["RELAY_DATA_DIR"] = str(settings.data_dir)
    env["DATABASE_URL"] = settings.database_url
    env["RELAY_JWT_SECRET"] = settings.jwt_secret
    cmd_migrate(settings)

    from relay.cli.processes import RestartingChildren

    worker_metrics = _worker_metrics_urls(settings, workers)

    def spawn(role: str) -> subprocess.Popen[bytes]:
        # Children are named "serve", "worker 0", "worker 1"...: worker i serves its metrics on port + i.
        command, _, index = role.partition(" ")
        if command == "worker" and settings.worker_metrics_port:
            port = settings.worker_metrics_port + int(index)
            return _spawn(command, {**env, "RELAY_WORKER_METRICS_PORT": str(port)})
        return _spawn(command, env)

    children = RestartingChildren(("serve", *(f"worker {i}" for i in range(workers))), spawn)
    base = f"http://{settings.host}:{settings.port}"
    print(
        "\n".join(
            [
                "",
                "Relay is starting.",
                f"  Dashboard    {base}/  (API reference: {base}/docs)",
                f"  API          {base}/v1",
                f"  WebSocket    ws://{settings.host}:{settings.port}/v1/ws",
                f"  Health       {base}/readyz",
                f"  API docs     {base}/openapi.json",
                f"  Metrics      {base}/metrics",
                *(f"               {url}" for url in worker_metrics),
                f"  Workers      {workers} (capacity {settings.worker_capacity} sessions each)",
                f"  Data dir     {settings.data_dir}",
                f"  Redis        {env['REDIS_URL']}{' (embedded Valkey)' if valkey else ''}",
                f"  Admin token  {admin_token}",
                "",
                "Press Ctrl-C to stop.",
                "",
            ]
        ),
        flush=True,
    )

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while True:
            time.sleep(0.2)
            if stopping:  # asked to stop: what children.stop() ends next is no crash to restart
                break
            # A child that exits (a crash, an OOM kill) is started again, with backoff.
            children.check()
    finally:
        children.stop()
        if valkey is not None:
            valkey.stop()
        print("Relay stopped.", flush=True)
    return 0


def _worker_metrics_urls(settings: Settings, workers: int) -> list[str]:
    if not settings.worker_metrics_port:
        return []
    host = settings.worker_metrics_host or settings.host
    return [f"http://{host}:{settings.worker_metrics_port + i}/metrics" for i in range(workers)]


COMMANDS = {
    "up": cmd_up,
    "serve": cmd_serve,
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "rotate-key": cmd_rotate_key,
    "engine-host": cmd_engine_host,
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ADMIN_COMMANDS:
        # Clients of a running Relay: they read none of its settings (nor create its data dir's files).
        raise SystemExit(admin_main(argv))
    parser = argparse.ArgumentParser(
        prog="relay",
        description=__doc__,
        epilog="Admin tasks against a running Relay: relay tenants|keys|sessions|qr --help",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to run")
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="relay up: how many worker processes to run (1)"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers != 1 and args.command != "up":
        parser.error("--workers is for relay up; run `relay worker` once per worker elsewhere")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"relay: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    configure_logging(settings.log_level, settings.log_format)
    install_keys(settings.encryption_keys)
    try:
        if args.command == "up":
            raise SystemExit(cmd_up(settings, workers=args.workers))
        raise SystemExit(COMMANDS[args.command](settings))
    except ConfigError as exc:
        print(f"relay: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main(sys.argv[1:])
