# Relay on ECS Fargate: one image, three ways to run it (web, worker, migrate), sharing one
# PostgreSQL, one Redis, one media bucket and one set of secrets. README.md beside this file
# walks through it.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_vpc" "selected" {
  id = var.vpc_id
}

locals {
  tags = merge({ "app" = "relay", "relay:deployment" = var.name }, var.tags)

  # The web process listens here inside its task; the ALB forwards HTTPS to it.
  web_port = 8080

  # The image's relay user and group (Dockerfile); the workers' EFS access point writes as it.
  relay_uid = 10001

  # A worker's SIGTERM ends its arq jobs (up to 10 s, job_completion_wait in workers/settings.py),
  # then lets every session's runner settle its events and release its lease (up to 15 s,
  # SHUTDOWN_WAIT_SECONDS in workers/supervisor.py), so another worker takes the sessions over at
  # once instead of after RELAY_LEASE_TTL. 60 s is twice that; ECS sends SIGKILL after it.
  worker_stop_timeout = 60

  # uvicorn closes open WebSockets and finishes requests within this on SIGTERM.
  web_stop_timeout = 30

  metrics_cidr_blocks = length(var.metrics_cidr_blocks) > 0 ? var.metrics_cidr_blocks : [data.aws_vpc.selected.cidr_block]

  media_store = "s3://${aws_s3_bucket.media.bucket}/media"

  # Plain settings, the same in every container. Secrets are never here: see local.secrets.
  base_environment = {
    RELAY_LOG_FORMAT           = "json"
    RELAY_DATA_DIR             = "/var/lib/relay"
    RELAY_MEDIA_STORE          = local.media_store
    RELAY_MEDIA_RETENTION_DAYS = tostring(var.media_retention_days)
    RELAY_WORKER_CAPACITY      = tostring(var.worker_capacity)
    AWS_REGION                 = data.aws_region.current.name
    # RDS accepts only TLS connections (rds.force_ssl); asyncpg (Relay) and the whatsmeow store
    # both read PGSSLMODE. "require" encrypts without checking the server's certificate against
    # the RDS CA bundle, which the image does not carry.
    PGSSLMODE = "require"
  }
  environment = merge(local.base_environment, var.environment)

  # Injected by ECS from Secrets Manager when a task starts: values never appear in the task
  # definition, the console or the Terraform plan of the services.
  secrets = [
    { name = "RELAY_ADMIN_TOKEN", valueFrom = aws_secretsmanager_secret.admin_token.arn },
    { name = "RELAY_JWT_SECRET", valueFrom = aws_secretsmanager_secret.jwt_secret.arn },
    { name = "RELAY_ENCRYPTION_KEY", valueFrom = aws_secretsmanager_secret.encryption_key.arn },
    { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
    { name = "RELAY_WHATSAPP_STORE", valueFrom = aws_secretsmanager_secret.database_url.arn },
    { name = "REDIS_URL", valueFrom = aws_secretsmanager_secret.redis_url.arn },
  ]

  # The root file system is read-only; these are the only places a container writes.
  mount_points = [
    { sourceVolume = "data", containerPath = "/var/lib/relay", readOnly = false },
    { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
  ]

  web_container = {
    name                   = "web"
    image                  = var.image
    essential              = true
    entryPoint             = ["relay"]
    command                = ["serve"]
    readonlyRootFilesystem = true
    user                   = "relay"
    stopTimeout            = local.web_stop_timeout
    portMappings           = [{ containerPort = local.web_port, protocol = "tcp" }]
    environment = [for key, value in merge(local.environment, {
      RELAY_HOST = "0.0.0.0"
      RELAY_PORT = tostring(local.web_port)
    }) : { name = key, value = value }]
    secrets     = local.secrets
    mountPoints = local.mount_points
    # The image has no curl: Python asks /readyz (database and Redis reachable), as the ALB does.
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.web_port}/readyz', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.web.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "web"
      }
    }
  }

  worker_container = {
    name                   = "worker"
    image                  = var.image
    essential              = true
    entryPoint             = ["relay"]
    command                = ["worker"]
    readonlyRootFilesystem = true
    user                   = "relay"
    stopTimeout            = local.worker_stop_timeout
    portMappings           = [{ containerPort = var.worker_metrics_port, protocol = "tcp" }]
    environment = [for key, value in merge(local.environment, {
      RELAY_WORKER_METRICS_HOST = "0.0.0.0"
      RELAY_WORKER_METRICS_PORT = tostring(var.worker_metrics_port)
    }) : { name = key, value = value }]
    secrets     = local.secrets
    mountPoints = local.mount_points
    # Engine hosts keep a socket and a store per WhatsApp client open; RELAY_ENGINE_HOST_MAX_FDS
    # (768) retires a host long before this.
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.worker.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "worker"
      }
    }
  }

  migrate_container = {
    name                   = "migrate"
    image                  = var.image
    essential              = true
    entryPoint             = ["relay"]
    command                = ["migrate"]
    readonlyRootFilesystem = true
    user                   = "relay"
    environment            = [for key, value in local.environment : { name = key, value = value }]
    secrets                = local.secrets
    mountPoints            = local.mount_points
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.migrate.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "migrate"
      }
    }
  }
}
