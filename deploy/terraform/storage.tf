# The object store (storage.object_store_url): raw-data/, processed/ and models/ in one bucket,
# as keys of one store; each prefix has its own lifecycle.
resource "google_storage_bucket" "data" {
  name                        = "${var.project_id}-keiba-data"
  project                     = var.project_id
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age            = var.raw_nearline_after_days
      matches_prefix = ["raw-data/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.raw_coldline_after_days
      matches_prefix = ["raw-data/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  # models/latest.json and other replaced objects: keep three old versions for 30 days.
  lifecycle_rule {
    condition {
      num_newer_versions = 3
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# Audit checkpoints (`keiba audit export`): write-once; the retention policy forbids deleting or
# replacing an object before its time, whoever asks.
resource "google_storage_bucket" "audit" {
  name                        = "${var.project_id}-keiba-audit"
  project                     = var.project_id
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  retention_policy {
    retention_period = var.audit_retention_days * 86400
    is_locked        = var.lock_audit_retention
  }
}

# The jobs' home (KEIBA_HOME): the DuckDB warehouse and the MLflow store, mounted as a volume
# until the warehouse moves to BigQuery. One job writes at a time.
resource "google_storage_bucket" "state" {
  name                        = "${var.project_id}-keiba-state"
  project                     = var.project_id
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}
