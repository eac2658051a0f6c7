# PostgreSQL on Cloud SQL (deploy_cloudsql): the ledger's database and MLflow's, each with a
# user of its own whose generated password reaches only Secret Manager (ledger-url,
# mlflow-backend-uri) and this stack's state bucket. The instance has no authorized network:
# it is reached only through the Cloud SQL connector Cloud Run mounts under /cloudsql, which
# needs roles/cloudsql.client (the ledger's readers and the MLflow server hold it).
locals {
  # Who uses the ledger: those that may read its URL.
  ledger_users = local.secret_readers["ledger-url"]
  sql_instance = var.deploy_cloudsql ? google_sql_database_instance.keiba[0].connection_name : ""
  # MLflow's instance: this stack's, else the one named by hand.
  mlflow_sql_instance = var.deploy_cloudsql ? local.sql_instance : var.mlflow_cloud_sql_instance
  sql_databases       = { ledger = "keiba", mlflow = "mlflow" }
}

resource "google_sql_database_instance" "keiba" {
  count               = var.deploy_cloudsql ? 1 : 0
  project             = var.project_id
  name                = "keiba"
  region              = var.region
  database_version    = "POSTGRES_16"
  deletion_protection = true

  settings {
    edition           = "ENTERPRISE"
    tier              = var.cloudsql_tier
    availability_type = "ZONAL"
    disk_type         = "PD_SSD"
    disk_size         = 10
    disk_autoresize   = true

    deletion_protection_enabled = true

    backup_configuration {
      enabled                        = true
      start_time                     = "18:00" # 03:00 in Japan
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7
      backup_retention_settings {
        retained_backups = 14
      }
    }

    ip_configuration {
      ipv4_enabled = true # no authorized networks: only the connector (IAM) gets in
      ssl_mode     = "ENCRYPTED_ONLY"
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_sql_database" "db" {
  for_each = var.deploy_cloudsql ? local.sql_databases : {}
  project  = var.project_id
  instance = google_sql_database_instance.keiba[0].name
  name     = each.value
}

# Letters and digits only: the password goes into a URL as it is.
resource "random_password" "sql" {
  for_each = var.deploy_cloudsql ? local.sql_databases : {}
  length   = 32
  special  = false
}

resource "google_sql_user" "user" {
  for_each = var.deploy_cloudsql ? local.sql_databases : {}
  project  = var.project_id
  instance = google_sql_database_instance.keiba[0].name
  name     = each.value
  password = random_password.sql[each.key].result
}

# The URLs keiba and MLflow connect with, through the mounted socket.
resource "google_secret_manager_secret_version" "sql_url" {
  for_each = var.deploy_cloudsql ? { ledger = "ledger-url", mlflow = "mlflow-backend-uri" } : {}
  secret   = google_secret_manager_secret.secret[each.value].id
  secret_data = format(
    "postgresql+psycopg://%s:%s@/%s?host=/cloudsql/%s",
    google_sql_user.user[each.key].name,
    random_password.sql[each.key].result,
    google_sql_database.db[each.key].name,
    local.sql_instance,
  )
}

resource "google_project_iam_member" "cloudsql_client" {
  for_each = var.deploy_cloudsql ? toset(local.ledger_users) : toset([])
  project  = var.project_id
  role     = "roles/cloudsql.client"
  member   = "serviceAccount:${google_service_account.runtime[each.key].email}"
}
