output "url" {
  description = "Relay's public base URL (the API is under /v1, the WebSocket feed at /v1/ws)."
  value       = "https://${var.domain_name}"
}

output "load_balancer_dns_name" {
  description = "Point domain_name at this (a CNAME, or a Route 53 alias)."
  value       = aws_lb.web.dns_name
}

output "load_balancer_zone_id" {
  description = "The load balancer's hosted zone, for a Route 53 alias record."
  value       = aws_lb.web.zone_id
}

output "migrate_command" {
  description = "Runs `relay migrate` once; do it before every rollout of a new image."
  value = join(" ", [
    "aws ecs run-task",
    "--region ${data.aws_region.current.name}",
    "--cluster ${aws_ecs_cluster.relay.name}",
    "--task-definition ${aws_ecs_task_definition.migrate.family}",
    "--launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", var.private_subnet_ids)}],securityGroups=[${aws_security_group.tasks.id}],assignPublicIp=DISABLED}'",
  ])
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.relay.name
}

output "web_service_name" {
  description = "The web ECS service."
  value       = aws_ecs_service.web.name
}

output "worker_service_name" {
  description = "The worker ECS service."
  value       = aws_ecs_service.worker.name
}

output "admin_token_secret_arn" {
  description = "Secrets Manager secret holding RELAY_ADMIN_TOKEN (read it with aws secretsmanager get-secret-value)."
  value       = aws_secretsmanager_secret.admin_token.arn
}

output "media_bucket" {
  description = "The media bucket."
  value       = aws_s3_bucket.media.bucket
}

output "worker_metrics_port" {
  description = "Port of each worker task's Prometheus /metrics (from inside the VPC)."
  value       = var.worker_metrics_port
}
