resource "google_artifact_registry_repository" "keiba" {
  project       = var.project_id
  location      = var.region
  repository_id = "keiba"
  format        = "DOCKER"
  description   = "The keiba image (deploy/Dockerfile)."

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "7776000s"
    }
  }
}
