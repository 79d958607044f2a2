# One customer-managed key encrypts what Relay keeps at rest here: secrets, logs, the database,
# Redis and the media bucket.
resource "aws_kms_key" "relay" {
  description             = "Relay (${var.name}): secrets, logs, database, Redis and media"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json

  tags = local.tags
}

resource "aws_kms_alias" "relay" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.relay.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:a key policy's Resource "*" is this key and nothing else
  #checkov:skip=CKV_AWS_356:a key policy's Resource "*" is this key and nothing else
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" is this key and nothing else
  # The account administers the key through IAM, as with AWS's default key policy.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the log groups with it (it is not an IAM principal of the account).
  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/relay/${var.name}/*"]
    }
  }
}
