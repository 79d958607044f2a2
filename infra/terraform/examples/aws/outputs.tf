output "url" {
  description = "Relay's public base URL."
  value       = module.relay.url
}

output "load_balancer_dns_name" {
  description = "Point the domain at this."
  value       = module.relay.load_balancer_dns_name
}

output "migrate_command" {
  description = "Run before every rollout."
  value       = module.relay.migrate_command
}

output "admin_token_secret_arn" {
  description = "Where RELAY_ADMIN_TOKEN is kept."
  value       = module.relay.admin_token_secret_arn
}
