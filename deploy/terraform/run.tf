# Cloud Run jobs: one image, one command each; their home (KEIBA_HOME) is the state bucket,
# their object store the data bucket. The audit job's store is the audit bucket, and it keeps
# no home: it reads the ledger and writes one checkpoint.
data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # The service's URL, known before it exists: the enqueue job's target and the audience of
  # the tasks' OIDC tokens, which the service checks.
  api_url = "https://keiba-api-${data.google_project.this.number}.${var.region}.run.app"
  tasks_env = {
    KEIBA_TASKS__QUEUE         = google_cloud_tasks_queue.decide.id
    KEIBA_TASKS__SETTLE_QUEUE  = google_cloud_tasks_queue.settle.id
    KEIBA_TASKS__TARGET_URL    = local.api_url
    KEIBA_TASKS__INVOKER_EMAIL = google_service_account.tasks.email
  }
  yesterday = "$(date -d yesterday +%F)"
  run_jobs = {
    collect = {
      command = ["/bin/sh", "-c", "exec keiba data collect --from \"${local.yesterday}\""]
      args    = []
      cpu     = "1"
      memory  = "2Gi"
      timeout = "3600s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = 1
    }
    features = {
      command = []
      args    = ["model", "predict"]
      cpu     = "1"
      memory  = "2Gi"
      timeout = "1800s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = 1
    }
    train = {
      command = []
      args    = ["model", "train"]
      cpu     = "2"
      memory  = "4Gi"
      timeout = "3600s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = 1
    }
    evaluate = {
      command = []
      args    = ["model", "evaluate"]
      cpu     = "1"
      memory  = "2Gi"
      timeout = "1800s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = 1
    }
    backtest = {
      command = ["/bin/sh", "-c", "exec keiba backtest run --from \"$(date -d '1 year ago' +%F)\" --to \"${local.yesterday}\""]
      args    = []
      cpu     = "2"
      memory  = "4Gi"
      timeout = "10800s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = 1
    }
    # A sweep of backtests over the grid in the state bucket (sweeps/grid.json): each task takes
    # its share of the points (CLOUD_RUN_TASK_INDEX of CLOUD_RUN_TASK_COUNT); the last to
    # finish merges them into sweeps/<id>/report.json in the data bucket.
    sweep = {
      command = []
      args    = ["backtest", "sweep", "--grid", "/mnt/state/sweeps/grid.json"]
      cpu     = "2"
      memory  = "4Gi"
      timeout = "10800s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = var.sweep_tasks
    }
    enqueue = {
      command = ["/bin/sh", "-c", "exec keiba run --date \"$(date +%F)\" --enqueue"]
      args    = []
      cpu     = "1"
      memory  = "2Gi"
      timeout = "600s"
      store   = "gs://${google_storage_bucket.data.name}"
      home    = "/mnt/state"
      tasks   = 1
    }
    audit-export = {
      command = []
      args    = ["audit", "export"]
      cpu     = "1"
      memory  = "512Mi"
      timeout = "600s"
      store   = "gs://${google_storage_bucket.audit.name}"
      home    = "/tmp/keiba"
      tasks   = 1
    }
  }
}

resource "google_cloud_run_v2_job" "job" {
  for_each            = local.run_jobs
  project             = var.project_id
  name                = "keiba-${each.key}"
  location            = var.region
  deletion_protection = false

  template {
    task_count = each.value.tasks
    template {
      service_account = google_service_account.runtime[each.key].email
      timeout         = each.value.timeout
      max_retries     = 1

      containers {
        image   = var.image
        command = each.value.command
        args    = each.value.args
        resources {
          limits = { cpu = each.value.cpu, memory = each.value.memory }
        }
        env {
          name  = "TZ"
          value = "Asia/Tokyo"
        }
        env {
          name  = "KEIBA_HOME"
          value = each.value.home
        }
        env {
          name  = "KEIBA_STORAGE__OBJECT_STORE_URL"
          value = each.value.store
        }
        dynamic "env" {
          for_each = local.warehouse_env
          content {
            name  = env.key
            value = env.value
          }
        }
        dynamic "env" {
          for_each = contains(local.secret_readers["ledger-url"], each.key) ? ["ledger-url"] : []
          content {
            name = "KEIBA_STORAGE__LEDGER_URL"
            value_source {
              secret_key_ref {
                secret  = google_secret_manager_secret.secret["ledger-url"].secret_id
                version = "latest"
              }
            }
          }
        }
        # Named secrets (the alert webhook's URL) are read by keiba from Secret Manager.
        env {
          name  = "KEIBA_SECRETS__PROVIDER"
          value = "secret-manager"
        }
        env {
          name  = "KEIBA_SECRETS__PROJECT"
          value = var.project_id
        }
        dynamic "env" {
          for_each = contains(local.secret_readers["alert-webhook-url"], each.key) ? ["alert-webhook-url"] : []
          content {
            name  = "KEIBA_MONITOR__WEBHOOK_SECRET"
            value = google_secret_manager_secret.secret["alert-webhook-url"].secret_id
          }
        }
        dynamic "env" {
          for_each = var.deploy_mlflow && contains(local.mlflow_clients, each.key) ? ["mlflow"] : []
          content {
            name  = "KEIBA_MODEL__TRACKING_URI"
            value = google_cloud_run_v2_service.mlflow[0].uri
          }
        }
        dynamic "env" {
          for_each = each.key == "enqueue" ? local.tasks_env : {}
          content {
            name  = env.key
            value = env.value
          }
        }
        dynamic "volume_mounts" {
          for_each = each.value.home == "/mnt/state" ? ["state"] : []
          content {
            name       = "state"
            mount_path = "/mnt/state"
          }
        }
        # The ledger's PostgreSQL, through the Cloud SQL connector (ledger-url's host).
        dynamic "volume_mounts" {
          for_each = var.deploy_cloudsql && contains(local.ledger_users, each.key) ? ["cloudsql"] : []
          content {
            name       = "cloudsql"
            mount_path = "/cloudsql"
          }
        }
      }

      dynamic "volumes" {
        for_each = each.value.home == "/mnt/state" ? ["state"] : []
        content {
          name = "state"
          gcs {
            bucket    = google_storage_bucket.state.name
            read_only = false
          }
        }
      }
      dynamic "volumes" {
        for_each = var.deploy_cloudsql && contains(local.ledger_users, each.key) ? ["cloudsql"] : []
        content {
          name = "cloudsql"
          cloud_sql_instance {
            instances = [local.sql_instance]
          }
        }
      }
    }
  }

  # The deploy workflow rolls out new images; Terraform does not roll them back.
  lifecycle {
    ignore_changes = [template[0].template[0].containers[0].image]
  }

  depends_on = [google_project_service.api, google_secret_manager_secret_version.sql_url]
}

# The race-day API: decide-and-buy per race (POST /races/{race_id}/decide) and its settlement
# (POST /races/{race_id}/settle), called by Cloud Tasks with an ID token of the tasks account,
# which may do nothing else; and the raw pages
# stored in the data bucket, delivered by Eventarc (events.tf) to POST /events/raw-page. One instance: the
# race day's journal and warehouse have one writer, and decisions are taken one at a time.
resource "google_cloud_run_v2_service" "api" {
  count               = var.deploy_api ? 1 : 0
  project             = var.project_id
  name                = "keiba-api"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false

  template {
    service_account = google_service_account.runtime["api"].email
    scaling {
      min_instance_count = 0
      max_instance_count = 1
    }
    containers {
      image = var.image
      # The ID tokens' audiences: KEIBA_SERVE_GOOGLE_AUDIENCE below.
      args = [
        "serve", "--host", "0.0.0.0", "--port", "8080", "--trusted-proxy", "--decide",
        "--google-decider", google_service_account.tasks.email,
        "--ingest-events", "--google-ingester", google_service_account.events.email,
      ]
      resources {
        limits = { cpu = "1", memory = "2Gi" }
      }
      env {
        name  = "TZ"
        value = "Asia/Tokyo"
      }
      env {
        name  = "KEIBA_HOME"
        value = "/mnt/state"
      }
      # Cloud Tasks' tokens name local.api_url; Eventarc's name the service's URL it resolves,
      # which may be the other one (var.api_extra_audiences). Separated by spaces.
      env {
        name  = "KEIBA_SERVE_GOOGLE_AUDIENCE"
        value = join(" ", concat([local.api_url], var.api_extra_audiences))
      }
      env {
        name  = "KEIBA_STORAGE__OBJECT_STORE_URL"
        value = "gs://${google_storage_bucket.data.name}"
      }
      # keiba reads the IPAT credentials (at each login) and the alert webhook's URL from
      # Secret Manager.
      env {
        name  = "KEIBA_SECRETS__PROVIDER"
        value = "secret-manager"
      }
      env {
        name  = "KEIBA_SECRETS__PROJECT"
        value = var.project_id
      }
      env {
        name  = "KEIBA_EXECUTION__SECRETS"
        value = "store"
      }
      dynamic "env" {
        for_each = local.warehouse_env
        content {
          name  = env.key
          value = env.value
        }
      }
      env {
        name = "KEIBA_STORAGE__LEDGER_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.secret["ledger-url"].secret_id
            version = "latest"
          }
        }
      }
      env {
        name  = "KEIBA_MONITOR__WEBHOOK_SECRET"
        value = google_secret_manager_secret.secret["alert-webhook-url"].secret_id
      }
      volume_mounts {
        name       = "state"
        mount_path = "/mnt/state"
      }
      dynamic "volume_mounts" {
        for_each = var.deploy_cloudsql ? ["cloudsql"] : []
        content {
          name       = "cloudsql"
          mount_path = "/cloudsql"
        }
      }
    }
    volumes {
      name = "state"
      gcs {
        bucket    = google_storage_bucket.state.name
        read_only = false
      }
    }
    dynamic "volumes" {
      for_each = var.deploy_cloudsql ? ["cloudsql"] : []
      content {
        name = "cloudsql"
        cloud_sql_instance {
          instances = [local.sql_instance]
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image]
  }

  depends_on = [google_project_service.api, google_secret_manager_secret_version.sql_url]
}

# Only Cloud Tasks (its account) may call the service: no public access.
resource "google_cloud_run_v2_service_iam_member" "tasks_invoke_api" {
  count    = var.deploy_api ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.api[0].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.tasks.email}"
}
