# The media store (RELAY_MEDIA_STORE=s3://bucket/media): private, encrypted, reached by the
# tasks through their role, emptied of old media by a lifecycle rule.

resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_18:server access logs need a second bucket; CloudTrail data events are the operator's choice (README.md, "Not included")
  #checkov:skip=CKV_AWS_144:media expire after media_expiration_days; a second region's copy is the operator's choice
  #checkov:skip=CKV2_AWS_62:nothing consumes bucket events; Relay reports media through its own events
  bucket_prefix = "${var.name}-media-"

  tags = local.tags
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.relay.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "expire-media"
    status = "Enabled"

    filter {
      prefix = "media/"
    }

    expiration {
      # A backstop behind Relay's own sweeper: never before RELAY_MEDIA_RETENTION_DAYS, or a URL
      # would answer 410 before its retention date.
      days = max(var.media_expiration_days, var.media_retention_days + 1)
    }

    # Versioning keeps an overwritten or deleted object a week, then it goes too.
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

data "aws_iam_policy_document" "media_bucket" {
  statement {
    sid       = "DenyPlainHttp"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.media_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.media]
}
