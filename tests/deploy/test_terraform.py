"""The Terraform module, read as data: what runs where, with which secrets, reachable by whom.

No cloud is reachable here, so nothing is applied; these tests pin the wiring an operator relies
on (infra/terraform/README.md, "What was checked here").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from relay.core.config import Settings
from tests.deploy.files import TERRAFORM, Module, procfile, terraform_files, unquote
from workers.settings import build_worker
from workers.supervisor import SHUTDOWN_WAIT_SECONDS

# Fargate sends SIGKILL at most this long after SIGTERM, whatever stopTimeout asks.
FARGATE_MAX_STOP_TIMEOUT = 120
SECRET_VARIABLES = {
    "RELAY_ADMIN_TOKEN",
    "RELAY_JWT_SECRET",
    "RELAY_ENCRYPTION_KEY",
    "DATABASE_URL",
    "RELAY_WHATSAPP_STORE",
    "REDIS_URL",
}


@pytest.fixture(scope="module")
def module() -> Module:
    return Module(TERRAFORM)


def container(module: Module, task: str) -> dict[str, Any]:
    """The container a task definition runs, after checking the definition is built from it."""
    definition = module.resource("aws_ecs_task_definition", task)
    assert definition["container_definitions"] == f"${{jsonencode([local.{task}_container])}}"
    assert definition["requires_compatibilities"] == ["FARGATE"]
    body: dict[str, Any] = module.locals[f"{task}_container"]
    return body


def stop_timeout(module: Module, task: str) -> int:
    value = container(module, task)["stopTimeout"]
    match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
    assert match, value
    return int(module.locals[match.group(1)])


@pytest.mark.parametrize("path", terraform_files(), ids=lambda path: str(path.relative_to(TERRAFORM)))
def test_every_terraform_file_parses(path: Path) -> None:
    with path.open() as handle:
        parsed = hcl2.load(handle)
    assert parsed, f"{path} declares nothing"


def test_web_worker_and_migrate_run_the_procfile_commands_from_one_image(module: Module) -> None:
    processes = procfile()
    for task, process in [("web", "web"), ("worker", "worker"), ("migrate", "release")]:
        body = container(module, task)
        assert body["image"] == "${var.image}"
        assert body["entryPoint"] + body["command"] == processes[process]
    assert [processes[name][1] for name in ("web", "worker", "release")] == ["serve", "worker", "migrate"]


def test_the_web_is_checked_on_readyz_by_the_load_balancer_and_the_container(module: Module) -> None:
    target_group = module.resource("aws_lb_target_group", "web")
    assert target_group["health_check"][0]["path"] == "/readyz"
    assert "/readyz" in " ".join(container(module, "web")["healthCheck"]["command"])
    service = module.resource("aws_ecs_service", "web")
    assert service["load_balancer"][0]["target_group_arn"] == "${aws_lb_target_group.web.arn}"


def test_the_load_balancer_speaks_https_and_keeps_quiet_websockets_open(module: Module) -> None:
    listener = module.resource("aws_lb_listener", "https")
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert listener["certificate_arn"] == "${var.certificate_arn}"
    redirect = module.resource("aws_lb_listener", "http")["default_action"][0]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"][0]["protocol"] == "HTTPS"
    # uvicorn pings a WebSocket every 20 s; ALB's default idle timeout is 60 s.
    assert module.resource("aws_lb", "web")["idle_timeout"] >= 300


def test_the_web_scales_on_cpu_and_requests(module: Module) -> None:
    target = module.resource("aws_appautoscaling_target", "web")
    assert "aws_ecs_service.web.name" in target["resource_id"]
    assert target["min_capacity"] == "${var.web_min_count}"
    metrics = {
        policy["target_tracking_scaling_policy_configuration"][0]["predefined_metric_specification"][0][
            "predefined_metric_type"
        ]
        for policy in module.resources["aws_appautoscaling_policy"].values()
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}


def test_the_workers_are_a_fixed_count_never_scaled_and_never_zero(module: Module) -> None:
    service = module.resource("aws_ecs_service", "worker")
    assert service["desired_count"] == "${var.worker_count}"
    assert "lifecycle" not in service, "nothing else may own the workers' count"
    for target in module.resources["aws_appautoscaling_target"].values():
        assert "worker" not in target["resource_id"]
    validation = module.variables["worker_count"]["validation"][0]
    assert validation["condition"] == "${var.worker_count >= 1}"
    assert module.variables["worker_count"]["default"] >= 1
    # A rollout adds new workers before it stops old ones.
    assert service["deployment_minimum_healthy_percent"] == 100


async def test_a_stopping_worker_has_time_to_hand_its_sessions_over(module: Module, tmp_path: Path) -> None:
    # What a worker does on SIGTERM: arq waits for running jobs, then the supervisor waits for
    # every session's runner to settle its events and release its lease.
    settings = Settings(
        data_dir=tmp_path, database_url="sqlite://:memory:", redis_url="redis://127.0.0.1:1/0"
    )
    worker = build_worker(settings, handle_signals=False)
    needed = worker._job_completion_wait + SHUTDOWN_WAIT_SECONDS
    assert needed < stop_timeout(module, "worker") <= FARGATE_MAX_STOP_TIMEOUT


def test_secrets_come_from_secrets_manager_never_from_the_environment(module: Module) -> None:
    secrets = {entry["name"]: entry["valueFrom"] for entry in module.locals["secrets"]}
    assert set(secrets) == SECRET_VARIABLES
    for name, value_from in secrets.items():
        assert re.fullmatch(r"\$\{aws_secretsmanager_secret\.\w+\.arn\}", value_from), name
    plain = module.locals["base_environment"]
    assert plain["RELAY_LOG_FORMAT"] == "json"
    assert not SECRET_VARIABLES & set(plain)
    assert module.locals["environment"] == "${merge(local.base_environment, var.environment)}"
    # An operator's extra variables cannot carry a secret either.
    guard = module.variables["environment"]["validation"][0]["condition"]
    assert all(name in guard for name in SECRET_VARIABLES)
    for task in ("web", "worker", "migrate"):
        body = container(module, task)
        assert body["secrets"] == "${local.secrets}"
        assert body["environment"].count("local.environment") == 1
        assert not any(name in body["environment"] for name in SECRET_VARIABLES), task
    # The passwords exist only in Secrets Manager and in the resources that need them.
    versions = module.resources["aws_secretsmanager_secret_version"]
    assert "random_password.database.result" in versions["database_url"]["secret_string"]
    assert "random_password.redis.result" in versions["redis_url"]["secret_string"]
    assert versions["redis_url"]["secret_string"].startswith("rediss://")
    assert versions["database_password"]["secret_string"] == "${random_password.database.result}"
    assert versions["redis_token"]["secret_string"] == "${random_password.redis.result}"
    readable = module.data["aws_iam_policy_document"]["execution_secrets"]["statement"][0]["resources"]
    assert {f"${{aws_secretsmanager_secret.{name}.arn}}" for name in ("admin_token", "jwt_secret")} <= set(
        readable
    )


def ingress_sources(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [{key: rule.get(key) for key in ("security_groups", "cidr_blocks")} for rule in group["ingress"]]


def test_only_the_tasks_reach_the_database_and_redis(module: Module) -> None:
    for name in ("database", "redis"):
        group = module.resource("aws_security_group", name)
        assert ingress_sources(group) == [
            {"security_groups": ["${aws_security_group.tasks.id}"], "cidr_blocks": None}
        ], name
    database = module.resource("aws_db_instance", "relay")
    assert database["vpc_security_group_ids"] == ["${aws_security_group.database.id}"]
    assert database["publicly_accessible"] is False
    assert database["storage_encrypted"] is True
    assert database["multi_az"] == "${var.db_multi_az}"
    assert database["backup_retention_period"] == "${var.db_backup_retention_days}"
    redis = module.resource("aws_elasticache_replication_group", "relay")
    assert redis["security_group_ids"] == ["${aws_security_group.redis.id}"]
    assert redis["transit_encryption_enabled"] is True
    assert redis["at_rest_encryption_enabled"] is True
    assert redis["auth_token"] == "${random_password.redis.result}"


def test_the_workers_share_an_encrypted_data_dir_that_outlives_their_tasks(module: Module) -> None:
    volumes = {
        volume["name"]: volume for volume in module.resource("aws_ecs_task_definition", "worker")["volume"]
    }
    efs = volumes["data"]["efs_volume_configuration"][0]
    assert efs["file_system_id"] == "${aws_efs_file_system.worker_data.id}"
    assert efs["transit_encryption"] == "ENABLED"
    mounted = {mount["sourceVolume"]: mount["containerPath"] for mount in module.locals["mount_points"]}
    assert mounted["data"] == module.locals["base_environment"]["RELAY_DATA_DIR"]
    assert module.resource("aws_efs_file_system", "worker_data")["encrypted"] is True
    assert ingress_sources(module.resource("aws_security_group", "worker_data")) == [
        {"security_groups": ["${aws_security_group.tasks.id}"], "cidr_blocks": None}
    ]


def test_only_the_load_balancer_reaches_the_web_and_metrics_stay_inside(module: Module) -> None:
    tasks = module.resource("aws_security_group", "tasks")
    assert ingress_sources(tasks) == [
        {"security_groups": ["${aws_security_group.load_balancer.id}"], "cidr_blocks": None}
    ]
    metrics = module.resource("aws_security_group", "worker_metrics")
    assert ingress_sources(metrics) == [
        {"security_groups": None, "cidr_blocks": "${local.metrics_cidr_blocks}"}
    ]
    assert "data.aws_vpc.selected.cidr_block" in module.locals["metrics_cidr_blocks"]
    worker = module.resource("aws_ecs_service", "worker")["network_configuration"][0]
    assert "${aws_security_group.worker_metrics.id}" in worker["security_groups"]
    web = module.resource("aws_ecs_service", "web")["network_configuration"][0]
    assert web["security_groups"] == ["${aws_security_group.tasks.id}"]
    for service in (worker, web):
        assert service["assign_public_ip"] is False
    # The web port opens to a scraper only when the operator names one.
    scrape = module.resource("aws_security_group_rule", "web_metrics")
    assert scrape["count"] == "${length(var.web_metrics_cidr_blocks) > 0 ? 1 : 0}"
    assert module.variables["web_metrics_cidr_blocks"]["default"] == []
    hidden = module.resource("aws_lb_listener_rule", "hide_metrics")
    assert "/metrics" in hidden["condition"][0]["path_pattern"][0]["values"]


def test_media_go_to_a_private_encrypted_bucket_through_the_task_role(module: Module) -> None:
    assert module.locals["base_environment"]["RELAY_MEDIA_STORE"] == "${local.media_store}"
    assert module.locals["media_store"].startswith("s3://${aws_s3_bucket.media.bucket}/")
    block = module.resource("aws_s3_bucket_public_access_block", "media")
    assert all(
        block[key] is True for key in ("block_public_acls", "block_public_policy", "restrict_public_buckets")
    )
    encryption = module.resource("aws_s3_bucket_server_side_encryption_configuration", "media")
    assert encryption["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    lifecycle = module.resource("aws_s3_bucket_lifecycle_configuration", "media")["rule"][0]
    # The lifecycle rule is only a backstop: it never deletes media before Relay's retention.
    assert (
        module.locals["base_environment"]["RELAY_MEDIA_RETENTION_DAYS"]
        == "${tostring(var.media_retention_days)}"
    )
    assert lifecycle["expiration"][0]["days"] == (
        "${max(var.media_expiration_days, var.media_retention_days + 1)}"
    )
    assert module.resource("aws_iam_role_policy", "task_media")["role"] == "${aws_iam_role.task.id}"
    assert not any(
        "AWS_ACCESS_KEY" in key or "AWS_SECRET" in key for key in module.locals["base_environment"]
    )


def test_every_log_group_has_a_retention(module: Module) -> None:
    groups = module.resources["aws_cloudwatch_log_group"]
    assert set(groups) == {"web", "worker", "migrate"}
    for group in groups.values():
        assert group["retention_in_days"] == "${var.log_retention_days}"


def test_the_outputs_give_the_url_and_the_migrate_command() -> None:
    with (TERRAFORM / "outputs.tf").open() as handle:
        outputs = {
            name: body for block in unquote(hcl2.load(handle))["output"] for name, body in block.items()
        }
    assert "var.domain_name" in outputs["url"]["value"]
    assert "aws_ecs_task_definition.migrate.family" in outputs["migrate_command"]["value"]


# `terraform validate` needs the AWS provider from the registry, which is out of reach here; these
# two catch what it would catch first: a name used that nothing declares.
REFERENCE = re.compile(r"(?<![\w.])(var|local|data\.\w+|(?:aws|random)_\w+)\.(\w+)")


def test_every_reference_in_the_module_names_something_it_declares(module: Module) -> None:
    declared = {
        "var": set(module.variables),
        "local": set(module.locals),
    }
    for kind, named in module.resources.items():
        declared[kind] = set(named)
    for kind, named in module.data.items():
        declared[f"data.{kind}"] = set(named)
    undeclared = []
    for path in sorted(TERRAFORM.glob("*.tf")):
        for kind, name in REFERENCE.findall(path.read_text()):
            if name not in declared.get(kind, set()):
                undeclared.append(f"{path.name}: {kind}.{name}")
    assert not undeclared
    assert len(declared["var"]) > 10  # the pattern did find references


def test_the_example_passes_every_required_input_and_only_known_ones(module: Module) -> None:
    example = Module(TERRAFORM / "examples" / "aws")
    with (TERRAFORM / "examples" / "aws" / "main.tf").open() as handle:
        (call,) = unquote(hcl2.load(handle))["module"]
    inputs = set(call["relay"]) - {"source"}
    required = {name for name, body in module.variables.items() if "default" not in body}
    assert required <= inputs
    assert inputs <= set(module.variables)
    for value in call["relay"].values():
        for kind, name in REFERENCE.findall(str(value)):
            assert kind == "var" and name in example.variables, name
