# Checked against the Huawei Cloud provider's own documentation at v1.97.1 (docs/resources/*.md of
# huaweicloud/terraform-provider-huaweicloud, tag v1.97.1): fgs_function, fgs_function_trigger,
# identity_agency, identity_role, lts_group, lts_stream, and docs/index.md for the provider block.
# tests/unit/test_functiongraph_terraform.py holds the argument tables taken from those pages:
# change the version here only together with them.
terraform {
  # Lifecycle preconditions (main.tf) need Terraform 1.2 or later.
  required_version = ">= 1.3.0"

  required_providers {
    huaweicloud = {
      source  = "huaweicloud/huaweicloud"
      version = "= 1.97.1"
    }
  }
}

# The deployer's credentials come from the environment (HW_ACCESS_KEY, HW_SECRET_KEY, or
# HW_PROFILE with a shared config file): never from this configuration. The function itself
# needs none: it signs with its agency's temporary credentials.
provider "huaweicloud" {
  region = var.region
}
