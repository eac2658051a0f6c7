# keiba on Google Cloud: one stack for one project (docs/deploy-gcp.md).
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
  # The state lives in a bucket made once by hand (docs/deploy-gcp.md, step 2):
  #   terraform init -backend-config="bucket=PROJECT-tfstate"
  backend "gcs" {
    prefix = "keiba"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
