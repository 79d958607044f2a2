# Who may talk to whom: the internet reaches only the load balancer, the load balancer only the
# web tasks, and only the tasks reach the database and Redis.

resource "aws_security_group" "load_balancer" {
  name        = "${var.name}-alb"
  description = "Relay load balancer: HTTPS from anywhere"
  vpc_id      = var.vpc_id

  ingress {
    description      = "HTTPS: the API and the WebSocket feed"
    protocol         = "tcp"
    from_port        = 443
    to_port          = 443
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  #checkov:skip=CKV_AWS_260:port 80 only answers with a redirect to HTTPS (aws_lb_listener.http)
  ingress {
    description      = "HTTP, redirected to HTTPS"
    protocol         = "tcp"
    from_port        = 80
    to_port          = 80
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  tags = merge(local.tags, { Name = "${var.name}-alb" })
}

resource "aws_security_group_rule" "load_balancer_to_web" {
  description              = "The load balancer forwards to the web tasks only"
  type                     = "egress"
  security_group_id        = aws_security_group.load_balancer.id
  protocol                 = "tcp"
  from_port                = local.web_port
  to_port                  = local.web_port
  source_security_group_id = aws_security_group.tasks.id
}

resource "aws_security_group" "tasks" {
  #checkov:skip=CKV_AWS_382:workers dial WhatsApp, webhook receivers and media URLs anywhere on the internet
  name        = "${var.name}-tasks"
  description = "Relay web, worker and migrate tasks"
  vpc_id      = var.vpc_id

  ingress {
    description     = "The load balancer reaches the web port"
    protocol        = "tcp"
    from_port       = local.web_port
    to_port         = local.web_port
    security_groups = [aws_security_group.load_balancer.id]
  }

  egress {
    description = "WhatsApp, webhook receivers, media URLs, AWS APIs, the database and Redis"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Name = "${var.name}-tasks" })
}

# The workers' Prometheus port (RELAY_WORKER_METRICS_PORT), open inside the VPC only.
resource "aws_security_group" "worker_metrics" {
  name        = "${var.name}-worker-metrics"
  description = "Relay worker metrics, from inside the VPC"
  vpc_id      = var.vpc_id

  ingress {
    description = "Prometheus scrapes /metrics on the workers"
    protocol    = "tcp"
    from_port   = var.worker_metrics_port
    to_port     = var.worker_metrics_port
    cidr_blocks = local.metrics_cidr_blocks
  }

  tags = merge(local.tags, { Name = "${var.name}-worker-metrics" })
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "Relay PostgreSQL, from the tasks only"
  vpc_id      = var.vpc_id

  ingress {
    description     = "PostgreSQL from the Relay tasks"
    protocol        = "tcp"
    from_port       = 5432
    to_port         = 5432
    security_groups = [aws_security_group.tasks.id]
  }

  tags = merge(local.tags, { Name = "${var.name}-database" })
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Relay Redis, from the tasks only"
  vpc_id      = var.vpc_id

  ingress {
    description     = "Redis (TLS) from the Relay tasks"
    protocol        = "tcp"
    from_port       = 6379
    to_port         = 6379
    security_groups = [aws_security_group.tasks.id]
  }

  tags = merge(local.tags, { Name = "${var.name}-redis" })
}

# Off by default: the web's /metrics shares its API port, so scraping it means reaching that port
# from inside the VPC, past the ALB.
resource "aws_security_group_rule" "web_metrics" {
  count             = length(var.web_metrics_cidr_blocks) > 0 ? 1 : 0
  description       = "Prometheus scrapes /metrics on the web tasks"
  type              = "ingress"
  security_group_id = aws_security_group.tasks.id
  protocol          = "tcp"
  from_port         = local.web_port
  to_port           = local.web_port
  cidr_blocks       = var.web_metrics_cidr_blocks
}
