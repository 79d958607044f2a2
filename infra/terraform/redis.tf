# Leases, command and event streams, the arq queues. ElastiCache for Redis OSS offers no
# append-only file on any engine version Relay can use (AOF ended with 2.8.22; TLS and AUTH
# tokens need 6+), so durability here is a replica in another zone with automatic failover,
# plus daily snapshots. README.md, "Redis durability", says what a lost write costs and when
# MemoryDB is the better choice.

locals {
  redis_major_version = split(".", var.redis_engine_version)[0]
}

resource "aws_elasticache_subnet_group" "relay" {
  name       = var.name
  subnet_ids = var.private_subnet_ids

  tags = local.tags
}

resource "aws_elasticache_parameter_group" "relay" {
  name   = "${var.name}-redis${local.redis_major_version}"
  family = "redis${local.redis_major_version}"

  # arq's queues and Relay's streams and leases must never be evicted to make room.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = local.tags
}

resource "aws_elasticache_replication_group" "relay" {
  replication_group_id = var.name
  description          = "Relay: leases, streams and queues"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.relay.name

  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.relay.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.relay.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis.result

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = local.tags
}
