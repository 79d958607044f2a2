# Every secret Relay needs, generated here and kept in Secrets Manager; the containers get them
# as `secrets` (local.secrets in main.tf), never as plain environment values. The generated
# values are also in the Terraform state: keep the state encrypted and private (README.md).

resource "random_password" "admin_token" {
  length  = 48
  special = false
}

resource "random_password" "jwt_secret" {
  length  = 64
  special = false
}

# RELAY_ENCRYPTION_KEY: 32 random bytes in base64 (relay.core.crypto).
resource "random_id" "encryption_key" {
  byte_length = 32
}

# RDS refuses '/', '@', '"' and spaces in passwords, and the password sits in a URL: letters
# and digits only.
resource "random_password" "database" {
  length  = 40
  special = false
}

# ElastiCache AUTH tokens are 16-128 printable characters without '@', '"' or '/'.
resource "random_password" "redis" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "admin_token" {
  #checkov:skip=CKV2_AWS_57:rotating the admin token is a restart with a new value, no Lambda needed (README.md, "Secrets")
  name                    = "${var.name}/admin-token"
  description             = "RELAY_ADMIN_TOKEN: the admin bearer token"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "admin_token" {
  secret_id     = aws_secretsmanager_secret.admin_token.id
  secret_string = random_password.admin_token.result
}

resource "aws_secretsmanager_secret" "jwt_secret" {
  #checkov:skip=CKV2_AWS_57:a new JWT secret invalidates every token issued; rotated by hand (README.md, "Secrets")
  name                    = "${var.name}/jwt-secret"
  description             = "RELAY_JWT_SECRET: HS256 key of POST /v1/auth/token"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "jwt_secret" {
  secret_id     = aws_secretsmanager_secret.jwt_secret.id
  secret_string = random_password.jwt_secret.result
}

resource "aws_secretsmanager_secret" "encryption_key" {
  #checkov:skip=CKV2_AWS_57:rotation is `relay rotate-key` with the new key first in the list (SPEC, "Secrets at rest"), not a Lambda
  name                    = "${var.name}/encryption-key"
  description             = "RELAY_ENCRYPTION_KEY: encrypts stored webhook secrets"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "encryption_key" {
  secret_id     = aws_secretsmanager_secret.encryption_key.id
  secret_string = random_id.encryption_key.b64_std
}

resource "aws_secretsmanager_secret" "database_password" {
  #checkov:skip=CKV2_AWS_57:the password is also inside database_url; rotate both together (README.md, "Secrets")
  name                    = "${var.name}/database-password"
  description             = "Password of the relay user on the RDS PostgreSQL instance"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "database_password" {
  secret_id     = aws_secretsmanager_secret.database_password.id
  secret_string = random_password.database.result
}

# Relay reads DATABASE_URL and RELAY_WHATSAPP_STORE whole, password included.
resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:follows database_password (README.md, "Secrets")
  name                    = "${var.name}/database-url"
  description             = "DATABASE_URL and RELAY_WHATSAPP_STORE: postgres://relay:...@rds/relay"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = "postgres://${aws_db_instance.relay.username}:${random_password.database.result}@${aws_db_instance.relay.address}:${aws_db_instance.relay.port}/${aws_db_instance.relay.db_name}"
}

resource "aws_secretsmanager_secret" "redis_token" {
  #checkov:skip=CKV2_AWS_57:ElastiCache token rotation is a two-step AUTH change, done by hand (README.md, "Secrets")
  name                    = "${var.name}/redis-token"
  description             = "AUTH token of the ElastiCache replication group"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "redis_token" {
  secret_id     = aws_secretsmanager_secret.redis_token.id
  secret_string = random_password.redis.result
}

# rediss://: TLS to ElastiCache; the token is the password.
resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:follows redis_token (README.md, "Secrets")
  name                    = "${var.name}/redis-url"
  description             = "REDIS_URL: rediss://:...@elasticache:6379/0"
  kms_key_id              = aws_kms_key.relay.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = "rediss://:${random_password.redis.result}@${aws_elasticache_replication_group.relay.primary_endpoint_address}:${aws_elasticache_replication_group.relay.port}/0"
}
