resource "aws_lb" "web" {
  #checkov:skip=CKV_AWS_91:access logs need a bucket with the regional ELB account's policy; the operator's choice, README.md "Not included"
  #checkov:skip=CKV2_AWS_28:a WAF is the operator's choice (README.md, "Not included"); the API authenticates every call
  name                       = "${var.name}-web"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.load_balancer.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # A WebSocket is idle between events; the server pings every 20 s (uvicorn's default), and an
  # idle timeout far above that lets a quiet feed live on instead of being cut and resumed.
  idle_timeout = 3600

  tags = local.tags
}

resource "aws_lb_target_group" "web" {
  name        = "${var.name}-web"
  port        = local.web_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  # A WebSocket is resumable (SPEC, "WebSocket feed"): a client cut by a scale-in reconnects with
  # its last event id, so there is no need to wait long for it.
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.web.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }

  tags = local.tags
}

# Prometheus metrics are for the operator, not for the internet.
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/problem+json"
      message_body = jsonencode({ type = "about:blank", title = "Not Found", status = 404, detail = "metrics are served inside the VPC only" })
      status_code  = "404"
    }
  }

  tags = local.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.web.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = local.tags
}
