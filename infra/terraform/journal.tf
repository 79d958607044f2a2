# The workers' RELAY_DATA_DIR on EFS, shared by every worker task. What a worker journals while
# the database is away (workers/journal.py) then outlives its task: the directory of a stopped
# worker is no longer locked, and a running worker adopts it and replays it into the ledger.
# On the task's own storage it would vanish with the task.

resource "aws_efs_file_system" "worker_data" {
  creation_token   = "${var.name}-worker-data"
  encrypted        = true
  kms_key_id       = aws_kms_key.relay.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  tags = merge(local.tags, { Name = "${var.name}-worker-data" })
}

resource "aws_efs_backup_policy" "worker_data" {
  file_system_id = aws_efs_file_system.worker_data.id

  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "worker_data" {
  count           = length(var.private_subnet_ids)
  file_system_id  = aws_efs_file_system.worker_data.id
  subnet_id       = var.private_subnet_ids[count.index]
  security_groups = [aws_security_group.worker_data.id]
}

# The workers see only /relay on the file system, as the image's relay user (uid 10001).
resource "aws_efs_access_point" "worker_data" {
  file_system_id = aws_efs_file_system.worker_data.id

  posix_user {
    uid = local.relay_uid
    gid = local.relay_uid
  }

  root_directory {
    path = "/relay"

    creation_info {
      owner_uid   = local.relay_uid
      owner_gid   = local.relay_uid
      permissions = "0750"
    }
  }

  tags = local.tags
}

resource "aws_security_group" "worker_data" {
  name        = "${var.name}-worker-data"
  description = "Relay worker data dir (EFS), from the tasks only"
  vpc_id      = var.vpc_id

  ingress {
    description     = "NFS from the Relay tasks"
    protocol        = "tcp"
    from_port       = 2049
    to_port         = 2049
    security_groups = [aws_security_group.tasks.id]
  }

  tags = merge(local.tags, { Name = "${var.name}-worker-data" })
}

# Only through the access point, only with TLS, only by the tasks' role.
data "aws_iam_policy_document" "worker_data" {
  statement {
    sid       = "TasksMountThroughTheAccessPoint"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.worker_data.arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.worker_data.arn]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["true"]
    }
  }
}

resource "aws_efs_file_system_policy" "worker_data" {
  file_system_id = aws_efs_file_system.worker_data.id
  policy         = data.aws_iam_policy_document.worker_data.json
}
