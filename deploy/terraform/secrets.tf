# Secret Manager holds the secrets' values; this stack creates the secrets and who may read
# them, never a value (docs/deploy-gcp.md adds the values with gcloud).
locals {
  secrets = {
    ipat-credentials   = "IPAT INET-ID, subscriber number, PIN and P-ARS number, as key = value lines."
    api-token          = "Bearer token callers of the keiba API must present."
    alert-webhook-url  = "URL of the webhook the monitor posts alerts to (monitor.webhook_secret)."
    ledger-url         = "SQLAlchemy URL of the PostgreSQL ledger (storage.ledger_url)."
    mlflow-backend-uri = "SQLAlchemy URL of MLflow's PostgreSQL store (the server's MLFLOW_BACKEND_STORE_URI)."
  }
  # Which identity may read which secret.
  secret_readers = {
    ipat-credentials   = ["api"]
    api-token          = ["api"]
    alert-webhook-url  = ["api", "collect", "train"]
    ledger-url         = ["api", "audit-export"]
    mlflow-backend-uri = ["mlflow"]
  }
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = each.key
  labels    = { app = "keiba" }

  annotations = {
    description = each.value
  }

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = {
    for pair in flatten([
      for secret, identities in local.secret_readers : [
        for identity in identities : { secret = secret, identity = identity }
      ]
    ]) : "${pair.secret}/${pair.identity}" => pair
  }
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}
