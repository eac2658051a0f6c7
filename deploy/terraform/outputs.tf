output "object_store_url" {
  description = "storage.object_store_url of the jobs and the service."
  value       = "gs://${google_storage_bucket.data.name}"
}

output "audit_store_url" {
  description = "storage.object_store_url of `keiba audit export`."
  value       = "gs://${google_storage_bucket.audit.name}"
}

output "image_repository" {
  description = "Where the deploy workflow pushes the image."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.keiba.repository_id}/keiba"
}

output "workload_identity_provider" {
  description = "The GitHub workflow's workload_identity_provider (a repository variable)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "The GitHub workflow's service_account (a repository variable)."
  value       = google_service_account.deployer.email
}

output "mlflow_tracking_uri" {
  description = "model.tracking_uri of a machine that logs to the MLflow server (null without deploy_mlflow)."
  value       = var.deploy_mlflow ? google_cloud_run_v2_service.mlflow[0].uri : null
}

output "decide_queue" {
  description = "The Cloud Tasks queue of per-race decide-and-buy calls."
  value       = google_cloud_tasks_queue.decide.id
}

output "settle_queue" {
  description = "The Cloud Tasks queue of per-race settlement calls (retried until official)."
  value       = google_cloud_tasks_queue.settle.id
}

output "cloudsql_instance" {
  description = "The Cloud SQL instance of the ledger and MLflow (PROJECT:REGION:NAME; null without deploy_cloudsql)."
  value       = var.deploy_cloudsql ? google_sql_database_instance.keiba[0].connection_name : null
}
