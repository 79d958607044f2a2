"""The Dockerfile and docker-compose.yml run what the Procfile runs.

No container daemon runs here, so neither is built or started: both are parsed (BuildKit's
parser, PyYAML) and compared with the Procfile; the image's HEALTHCHECK command itself is run
against a real `relay serve`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import dockerfile

from tests.deploy.files import ROOT, TERRAFORM, Module, compose, dockerfile_instructions, procfile
from tests.stack import RelayStack, free_port
from workers.supervisor import SHUTDOWN_WAIT_SECONDS


def instructions(name: str) -> list[dockerfile.Command]:
    return [command for command in dockerfile_instructions() if command.cmd == name.upper()]


def image_argv(entrypoint: list[str], command: list[str]) -> list[str]:
    return [*entrypoint, *command]


def entrypoint() -> list[str]:
    (found,) = instructions("entrypoint")
    assert found.json, "exec form, so `relay` gets SIGTERM itself"
    return list(found.value)


def seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def test_the_image_is_built_in_two_stages_on_slim_python() -> None:
    stages = instructions("from")
    assert [stage.value[0] for stage in stages] == ["python:3.11-slim", "python:3.11-slim"]
    runs = " ".join(" ".join(run.value) for run in instructions("run"))
    assert "pip install ." in runs
    assert "libmagic1" in runs and "ffmpeg" in runs
    copied = [command for command in instructions("copy") if "--from=build" in command.flags]
    assert copied, "the final stage takes the installed venv, not the build tools"


def test_the_image_runs_relay_as_a_user_that_is_not_root() -> None:
    (user,) = instructions("user")
    assert user.value[0] not in {"root", "0"}
    assert entrypoint() == ["relay"]
    (default,) = instructions("cmd")
    assert image_argv(entrypoint(), list(default.value)) == procfile()["web"]


def test_the_dockerignore_keeps_the_context_to_what_pip_install_reads() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored
    for kept in ("pyproject.toml", "README.md", "relay/", "workers/", "webhooks/"):
        assert f"!{kept}" in ignored


def test_compose_runs_the_procfile_commands_from_the_image() -> None:
    services = compose()["services"]
    processes = procfile()
    for service, process in [("web", "web"), ("worker", "worker"), ("migrate", "release")]:
        assert services[service]["build"] == "."
        assert image_argv(entrypoint(), services[service]["command"]) == processes[process], service
    assert services["web"]["environment"]["RELAY_HOST"] == "0.0.0.0"
    assert services["web"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2


def test_compose_migrates_before_anything_serves() -> None:
    services = compose()["services"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_compose_redis_keeps_an_append_only_file_and_postgres_is_the_store() -> None:
    services = compose()["services"]
    redis_command: list[str] = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert services["postgres"]["image"].startswith("postgres:")
    environment: dict[str, Any] = services["worker"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["RELAY_WHATSAPP_STORE"].startswith("postgres://")
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_compose_gives_a_stopping_worker_time_to_hand_its_sessions_over() -> None:
    # arq's job_completion_wait (10 s, workers/settings.py) then the supervisor's wait.
    grace = seconds(compose()["services"]["worker"]["stop_grace_period"])
    assert grace > 10 + SHUTDOWN_WAIT_SECONDS


def test_compose_secrets_must_be_given_not_defaulted() -> None:
    environment = compose()["services"]["web"]["environment"]
    for name in ("RELAY_ADMIN_TOKEN", "RELAY_JWT_SECRET", "RELAY_ENCRYPTION_KEY"):
        assert environment[name].startswith(f"${{{name}:?"), name


def healthcheck(port: int) -> subprocess.CompletedProcess[bytes]:
    """The image's HEALTHCHECK command, run with this interpreter instead of the image's python."""
    (check,) = instructions("healthcheck")
    kind, program, *arguments = check.value
    assert (kind, program) == ("CMD", "python")
    env = {**os.environ, "RELAY_PORT": str(port)}
    return subprocess.run([sys.executable, *arguments], env=env, capture_output=True, timeout=30)


def test_the_image_healthcheck_passes_on_a_ready_web_and_fails_without_one(stack: RelayStack) -> None:
    assert healthcheck(stack.port).returncode == 0
    assert healthcheck(free_port()).returncode != 0


def test_compose_and_terraform_configure_relay_alike() -> None:
    module = Module(TERRAFORM)
    plain = module.locals["base_environment"]
    worker = compose()["services"]["worker"]["environment"]
    assert worker["RELAY_LOG_FORMAT"] == plain["RELAY_LOG_FORMAT"] == "json"
    assert int(worker["RELAY_WORKER_METRICS_PORT"]) == module.variables["worker_metrics_port"]["default"]
    # Both name the whatsmeow store's TLS through PGSSLMODE, which asyncpg and lib/pq both read.
    assert "PGSSLMODE" in worker and "PGSSLMODE" in plain
    assert "sslmode" not in worker["RELAY_WHATSAPP_STORE"] and "ssl" not in worker["DATABASE_URL"]
    terraform_secrets = {entry["name"] for entry in module.locals["secrets"]}
    assert {"DATABASE_URL", "RELAY_WHATSAPP_STORE", "REDIS_URL"} <= terraform_secrets
    assert worker["RELAY_WHATSAPP_STORE"] == worker["DATABASE_URL"]
