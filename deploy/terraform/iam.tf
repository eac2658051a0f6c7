# One service account per job and one for the service; each has exactly the roles in
# local.grants, on the narrowest resource that works (a bucket, the dataset, a queue).
locals {
  jobs_and_service = ["collect", "features", "train", "evaluate", "backtest", "sweep", "enqueue", "audit-export", "api", "mlflow"]

  grants = {
    collect = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataEditor"]
    }
    features = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataEditor"]
    }
    train = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataViewer"]
    }
    evaluate = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataEditor"]
    }
    backtest = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataViewer"]
    }
    # Writes each point and the merged report under sweeps/, once each (never replaces).
    sweep = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataViewer"]
    }
    # Reads the day's race list and puts two tasks per race on the queues (decide, settle),
    # each carrying the tasks account's OIDC token (serviceAccountUser on that account only).
    enqueue = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataEditor"]
      queue   = ["roles/cloudtasks.enqueuer"]
      tasks   = ["roles/iam.serviceAccountUser"]
    }
    audit-export = {
      audit = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
    }
    api = {
      project = ["roles/bigquery.jobUser"]
      data    = ["roles/storage.objectCreator", "roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      dataset = ["roles/bigquery.dataEditor"]
    }
    mlflow = {
      project = ["roles/cloudsql.client"]
      mlflow  = ["roles/storage.objectUser"]
    }
  }

  # (identity, scope, role) triples, keyed for for_each.
  grant_list = flatten([
    for identity, scopes in local.grants : [
      for scope, roles in scopes : [
        for role in roles : { identity = identity, scope = scope, role = role }
      ]
    ]
  ])
  grants_on = {
    for scope in ["project", "data", "state", "audit", "mlflow", "dataset", "queue", "tasks"] : scope => {
      for g in local.grant_list : "${g.identity}/${g.role}" => g if g.scope == scope
    }
  }
}

resource "google_service_account" "runtime" {
  for_each     = toset(local.jobs_and_service)
  project      = var.project_id
  account_id   = "keiba-${each.key}"
  display_name = "keiba ${each.key}"
}

# Cloud Scheduler starts the jobs as this account; Cloud Tasks calls the service as that one.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "keiba-scheduler"
  display_name = "keiba scheduler (starts jobs)"
}

resource "google_service_account" "tasks" {
  project      = var.project_id
  account_id   = "keiba-tasks"
  display_name = "keiba tasks (calls the service per race)"
}

resource "google_project_iam_member" "runtime" {
  for_each = local.grants_on["project"]
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_storage_bucket_iam_member" "data" {
  for_each = local.grants_on["data"]
  bucket   = google_storage_bucket.data.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_storage_bucket_iam_member" "state" {
  for_each = local.grants_on["state"]
  bucket   = google_storage_bucket.state.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_storage_bucket_iam_member" "audit" {
  for_each = local.grants_on["audit"]
  bucket   = google_storage_bucket.audit.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_storage_bucket_iam_member" "mlflow" {
  for_each = local.grants_on["mlflow"]
  bucket   = google_storage_bucket.mlflow.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_bigquery_dataset_iam_member" "runtime" {
  for_each   = local.grants_on["dataset"]
  project    = var.project_id
  dataset_id = google_bigquery_dataset.keiba.dataset_id
  role       = each.value.role
  member     = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_cloud_tasks_queue_iam_member" "runtime" {
  for_each = local.grants_on["queue"]
  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.decide.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

resource "google_cloud_tasks_queue_iam_member" "settle" {
  for_each = local.grants_on["queue"]
  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.settle.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}

# The enqueue job creates tasks that carry the tasks account's OIDC token.
resource "google_service_account_iam_member" "runtime_acts_as_tasks" {
  for_each           = local.grants_on["tasks"]
  service_account_id = google_service_account.tasks.name
  role               = each.value.role
  member             = "serviceAccount:${google_service_account.runtime[each.value.identity].email}"
}
