# A root module that runs Relay in an existing VPC. Copy this folder, fill terraform.tfvars
# (see variables.tf), then `terraform init && terraform apply` (infra/terraform/README.md).

terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.30, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { "managed-by" = "terraform" }
  }
}

module "relay" {
  source = "../.."

  name               = var.name
  image              = var.image
  vpc_id             = var.vpc_id
  public_subnet_ids  = var.public_subnet_ids
  private_subnet_ids = var.private_subnet_ids
  domain_name        = var.domain_name
  certificate_arn    = var.certificate_arn

  worker_count    = var.worker_count
  worker_capacity = var.worker_capacity
  worker_memory   = var.worker_memory

  deletion_protection = true
}
