variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, Artifact Registry, Cloud Tasks and Cloud Scheduler."
  type        = string
  default     = "asia-northeast1"
}

variable "location" {
  description = "Location of the buckets and the BigQuery dataset."
  type        = string
  default     = "ASIA-NORTHEAST1"
}

variable "github_repository" {
  description = "The only GitHub repository (OWNER/NAME) allowed to deploy, through Workload Identity Federation."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be OWNER/NAME."
  }
}

variable "github_ref" {
  description = "The only Git ref allowed to deploy."
  type        = string
  default     = "refs/heads/main"
}

variable "image" {
  description = "The first image the jobs and the service run; later deployments set it (the deploy workflow)."
  type        = string
}

variable "deploy_api" {
  description = "Deploy the race-day API service (it needs an HTTP entrypoint in the image)."
  type        = bool
  default     = false
}

variable "api_extra_audiences" {
  description = "Other audiences the race-day service accepts in Google ID tokens, e.g. its URL as `gcloud run services describe keiba-api --format='value(status.url)'` prints it, when Eventarc's tokens name that one."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for url in var.api_extra_audiences : can(regex("^https://[a-z0-9.-]+$", url))])
    error_message = "An audience is a service's https:// URL without a path."
  }
}

variable "sweep_tasks" {
  description = "How many tasks of keiba-sweep share a sweep of backtests (they run in parallel)."
  type        = number
  default     = 4
  validation {
    condition     = var.sweep_tasks >= 1 && var.sweep_tasks <= 100
    error_message = "sweep_tasks is 1 to 100."
  }
}

variable "raw_page_events" {
  description = "With deploy_api: load every raw page stored in the data bucket when it lands (an Eventarc trigger), whoever stored it; the collect job loads its own pages either way."
  type        = bool
  default     = true
}

variable "deploy_mlflow" {
  description = "Deploy MLflow's tracking server as a Cloud Run service behind IAM (it needs the Cloud SQL instance and the mlflow-backend-uri secret's value)."
  type        = bool
  default     = false
}

variable "deploy_cloudsql" {
  description = "Create the Cloud SQL PostgreSQL instance of the ledger and MLflow, their databases, users and URLs (in Secret Manager), and mount it on the ledger's users."
  type        = bool
  default     = false
}

variable "cloudsql_tier" {
  description = "The Cloud SQL machine type (Enterprise edition): db-f1-micro is the smallest shared-core one."
  type        = string
  default     = "db-f1-micro"
}

variable "mlflow_cloud_sql_instance" {
  description = "The Cloud SQL instance (PROJECT:REGION:NAME) holding MLflow's PostgreSQL database, without deploy_cloudsql."
  type        = string
  default     = ""
  validation {
    condition     = var.mlflow_cloud_sql_instance == "" || can(regex("^[a-z][a-z0-9-]*:[a-z0-9-]+:[a-z][a-z0-9-]*$", var.mlflow_cloud_sql_instance))
    error_message = "mlflow_cloud_sql_instance must be PROJECT:REGION:NAME."
  }
}

variable "mlflow_invokers" {
  description = "Who else may call the MLflow server, e.g. [\"user:you@example.com\"] for its web UI through `gcloud run services proxy`."
  type        = list(string)
  default     = []
}

variable "audit_retention_days" {
  description = "How long an exported audit checkpoint cannot be deleted or replaced."
  type        = number
  default     = 3650
}

variable "lock_audit_retention" {
  description = "Lock the audit bucket's retention policy. Irreversible: nobody can shorten it afterwards."
  type        = bool
  default     = false
}

variable "raw_nearline_after_days" {
  description = "Days after which raw pages move to Nearline storage."
  type        = number
  default     = 90
}

variable "raw_coldline_after_days" {
  description = "Days after which raw pages move to Coldline storage."
  type        = number
  default     = 365
}

variable "dataset" {
  description = "The keiba dataset the jobs read and load (storage.dataset): its BigQuery dataset is keiba_<name>."
  type        = string
  default     = "default"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,63}$", var.dataset))
    error_message = "A dataset name is 1 to 64 lower-case letters, digits, '-' and '_'."
  }
}
