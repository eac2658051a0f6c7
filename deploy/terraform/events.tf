# A raw page stored in the data bucket → loaded into the warehouse: an Eventarc trigger
# delivers each finalized object of the bucket to the race-day service's POST /events/raw-page
# with an ID token of keiba-events, the only account the service gives the ingester role.
# Cloud Storage events can be filtered by bucket, not by prefix: the service loads the raw
# pages' index records (raw-data/netkeiba-index/) and acknowledges every other object.
locals {
  raw_page_events = var.deploy_api && var.raw_page_events
}

resource "google_service_account" "events" {
  project      = var.project_id
  account_id   = "keiba-events"
  display_name = "keiba events (delivers stored raw pages to the service)"
}

# Cloud Storage publishes its events through Pub/Sub, as its own service agent.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_publishes_events" {
  count   = local.raw_page_events ? 1 : 0
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_project_iam_member" "events_receiver" {
  count   = local.raw_page_events ? 1 : 0
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.events.email}"
}

resource "google_cloud_run_v2_service_iam_member" "events_invoke_api" {
  count    = local.raw_page_events ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.api[0].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

resource "google_eventarc_trigger" "raw_page" {
  count           = local.raw_page_events ? 1 : 0
  project         = var.project_id
  name            = "keiba-raw-page"
  location        = lower(var.location) # a bucket's events are routed in the bucket's location
  service_account = google_service_account.events.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.storage.object.v1.finalized"
  }
  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.data.name
  }

  destination {
    cloud_run_service {
      service = google_cloud_run_v2_service.api[0].name
      region  = var.region
      path    = "/events/raw-page"
    }
  }

  depends_on = [
    google_project_iam_member.gcs_publishes_events,
    google_project_iam_member.events_receiver,
    google_project_service.api,
  ]
}
