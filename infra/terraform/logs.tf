resource "aws_cloudwatch_log_group" "web" {
  name              = "/relay/${var.name}/web"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.relay.arn

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/relay/${var.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.relay.arn

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "migrate" {
  name              = "/relay/${var.name}/migrate"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.relay.arn

  tags = local.tags
}
