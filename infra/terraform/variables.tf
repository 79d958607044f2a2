variable "name" {
  description = "Prefix of every resource's name (letters, digits and hyphens)."
  type        = string
  default     = "relay"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "The name must be 2-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "image" {
  description = "The Relay container image (built from the repository's Dockerfile), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay:0.1.0. Web, worker and migrate all run it."
  type        = string
}

variable "vpc_id" {
  description = "The VPC to run in."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer (at least two availability zones)."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks, the database and Redis (at least two availability zones). The workers reach WhatsApp and the webhook receivers from here, so they need a NAT gateway."
  type        = list(string)
}

variable "domain_name" {
  description = "The public host name of the API (e.g. relay.example.com); point it at the load balancer's DNS name."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name, used by the HTTPS listener."
  type        = string
}

variable "web_cpu" {
  description = "CPU units of one web task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "web_memory" {
  description = "Memory of one web task, MiB."
  type        = number
  default     = 1024
}

variable "web_min_count" {
  description = "Fewest web tasks; the autoscaler never goes below it."
  type        = number
  default     = 2

  validation {
    condition     = var.web_min_count >= 1
    error_message = "Run at least one web task."
  }
}

variable "web_max_count" {
  description = "Most web tasks the autoscaler may run."
  type        = number
  default     = 6
}

variable "web_cpu_target" {
  description = "Average CPU utilisation (percent) the web autoscaler aims at."
  type        = number
  default     = 60
}

variable "web_requests_per_target" {
  description = "Requests per web task per minute the autoscaler aims at (ALBRequestCountPerTarget)."
  type        = number
  default     = 3000
}

variable "worker_count" {
  description = "Worker tasks. Fixed: each holds long-lived WhatsApp connections, so they are never scaled in on load, and never to zero."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 1
    error_message = "Run at least one worker: without one no session is connected and no webhook is delivered."
  }
}

variable "worker_cpu" {
  description = "CPU units of one worker task (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory of one worker task, MiB. See README.md, \"Sizing the workers\", for sessions per GiB."
  type        = number
  default     = 4096
}

variable "worker_capacity" {
  description = "RELAY_WORKER_CAPACITY: sessions one worker task may own."
  type        = number
  default     = 500
}

variable "worker_metrics_port" {
  description = "RELAY_WORKER_METRICS_PORT: where each worker serves Prometheus /metrics, reachable from metrics_cidr_blocks only."
  type        = number
  default     = 9400
}

variable "metrics_cidr_blocks" {
  description = "Who may scrape /metrics on the tasks (the workers' metrics port and the web port). Defaults to the VPC's CIDR block."
  type        = list(string)
  default     = []
}

variable "environment" {
  description = "Extra plain environment variables for every Relay container (e.g. RELAY_WEBHOOK_TIMEOUT). Never put secrets here."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.environment), ["RELAY_ADMIN_TOKEN", "RELAY_JWT_SECRET", "RELAY_ENCRYPTION_KEY", "DATABASE_URL", "RELAY_WHATSAPP_STORE", "REDIS_URL"])) == 0
    error_message = "Secrets come from Secrets Manager (local.secrets), never from plain environment values."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "db_allocated_storage" {
  description = "Initial storage of the database, GiB; it grows by itself up to db_max_allocated_storage."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling, GiB."
  type        = number
  default     = 500
}

variable "db_multi_az" {
  description = "A standby database in a second availability zone (failover in 1-2 minutes)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups (point-in-time recovery)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1
    error_message = "Keep at least one day of backups."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.medium"
}

variable "redis_engine_version" {
  description = "ElastiCache Redis OSS engine version (TLS and AUTH need 6 or later)."
  type        = string
  default     = "7.1"
}

variable "redis_replicas" {
  description = "Read replicas beside the primary; at least one, for Multi-AZ automatic failover."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas >= 1
    error_message = "Keep at least one replica: it is what ElastiCache fails over to (it offers no append-only file)."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots."
  type        = number
  default     = 7
}

variable "media_retention_days" {
  description = "RELAY_MEDIA_RETENTION_DAYS: days after which Relay's sweeper deletes inbound media and their URL answers 410."
  type        = number
  default     = 30
}

variable "media_expiration_days" {
  description = "Days after which the S3 lifecycle rule deletes media objects the sweeper missed; never earlier than media_retention_days + 1."
  type        = number
  default     = 90
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the containers' logs."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Protect the database and the load balancer from `terraform destroy`."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "web_metrics_cidr_blocks" {
  description = "Who may reach the web tasks' port directly, to scrape their /metrics (the ALB hides it). Empty: only the ALB reaches them."
  type        = list(string)
  default     = []
}
