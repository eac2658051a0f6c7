# MLflow's tracking server as a Cloud Run service behind IAM: no public access; only the jobs
# that log runs (local.mlflow_clients) and var.mlflow_invokers may call it. keiba's MLflow
# plugin adds their Google ID token to every request (docs/deploy-gcp.md). Runs are kept in
# PostgreSQL on Cloud SQL (its URL in the mlflow-backend-uri secret), artefacts in the mlflow
# bucket, served through the server, so the callers need no access to the bucket.
locals {
  mlflow_clients = ["train", "evaluate"]
  # Host headers the server answers (against DNS rebinding): its run.app names only.
  mlflow_allowed_hosts = "keiba-mlflow-*.run.app"
  mlflow_invokers      = merge(
    { for client in local.mlflow_clients : client => "serviceAccount:${google_service_account.runtime[client].email}" },
    { for member in var.mlflow_invokers : member => member },
  )
}

resource "google_storage_bucket" "mlflow" {
  name                        = "${var.project_id}-keiba-mlflow"
  project                     = var.project_id
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}

resource "google_cloud_run_v2_service" "mlflow" {
  count               = var.deploy_mlflow ? 1 : 0
  project             = var.project_id
  name                = "keiba-mlflow"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false

  template {
    service_account = google_service_account.runtime["mlflow"].email
    scaling {
      min_instance_count = 0
      max_instance_count = 1
    }
    containers {
      # keiba's image carries MLflow and the PostgreSQL and Cloud Storage clients it needs.
      image   = var.image
      command = ["mlflow"]
      args    = [
        "server",
        "--host", "0.0.0.0",
        "--port", "8080",
        "--workers", "2",
        "--artifacts-destination", "gs://${google_storage_bucket.mlflow.name}/artifacts",
        "--allowed-hosts", local.mlflow_allowed_hosts,
      ]
      resources {
        limits = { cpu = "1", memory = "2Gi" }
      }
      env {
        name = "MLFLOW_BACKEND_STORE_URI"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secret["mlflow-backend-uri"].secret_id
            version = "latest"
          }
        }
      }
      env {
        name  = "MLFLOW_DISABLE_TELEMETRY"
        value = "true"
      }
      startup_probe {
        http_get {
          path = "/health"
        }
        period_seconds    = 5
        failure_threshold = 24
      }
      volume_mounts {
        name       = "cloudsql"
        mount_path = "/cloudsql"
      }
    }
    volumes {
      name = "cloudsql"
      cloud_sql_instance {
        instances = [local.mlflow_sql_instance]
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image]
    precondition {
      condition     = local.mlflow_sql_instance != ""
      error_message = "deploy_mlflow needs deploy_cloudsql or mlflow_cloud_sql_instance."
    }
  }

  depends_on = [google_project_service.api, google_secret_manager_secret_version.sql_url]
}

# Calling the server needs roles/run.invoker; nobody else has it.
resource "google_cloud_run_v2_service_iam_member" "mlflow_invoker" {
  for_each = var.deploy_mlflow ? local.mlflow_invokers : {}
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.mlflow[0].name
  role     = "roles/run.invoker"
  member   = each.value
}
