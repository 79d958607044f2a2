variable "region" {
  description = "AWS region to run in."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "relay"
}

variable "image" {
  description = "The Relay image pushed to ECR (docker build -t ... . at the repository root)."
  type        = string
}

variable "vpc_id" {
  description = "An existing VPC with public subnets and private subnets behind a NAT gateway."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets in two or more availability zones, for the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets in two or more availability zones, for the tasks, the database and Redis."
  type        = list(string)
}

variable "domain_name" {
  description = "Public host name of the API, e.g. relay.example.com."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name in this region."
  type        = string
}

variable "worker_count" {
  description = "Worker tasks (fixed, at least 1)."
  type        = number
  default     = 2
}

variable "worker_capacity" {
  description = "Sessions per worker task (RELAY_WORKER_CAPACITY)."
  type        = number
  default     = 500
}

variable "worker_memory" {
  description = "Memory of one worker task, MiB."
  type        = number
  default     = 4096
}
