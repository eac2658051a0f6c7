# Cloud Scheduler starts the daily and weekly jobs (Japan time); Cloud Tasks calls the service
# per race at its decision time, and after the race until its tickets are settled (a named
# task is refused as a duplicate).
locals {
  schedules = {
    collect      = "0 6 * * *"  # every day 06:00: yesterday's races, results and payouts
    features     = "30 7 * * *" # every day 07:30: features and predictions of the coming races
    train        = "0 3 * * 1"  # Mondays 03:00: retrain on everything up to the weekend
    evaluate     = "0 5 * * 1"  # Mondays 05:00: score the new model
    enqueue      = "0 8 * * *"  # every day 08:00: the day's races on keiba-decide and keiba-settle
    audit-export = "30 23 * * *"
  }
}

resource "google_cloud_scheduler_job" "job" {
  for_each         = local.schedules
  project          = var.project_id
  region           = var.region
  name             = "keiba-${each.key}"
  schedule         = each.value
  time_zone        = "Asia/Tokyo"
  attempt_deadline = "320s"

  http_target {
    http_method = "POST"
    uri         = "https://${var.region}-run.googleapis.com/apis/run.googleapis.com/v1/namespaces/${var.project_id}/jobs/${google_cloud_run_v2_job.job[each.key].name}:run"
    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  retry_config {
    retry_count = 1
  }
}

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs" {
  for_each = local.schedules
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.job[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_tasks_queue" "decide" {
  project  = var.project_id
  name     = "keiba-decide"
  location = var.region

  rate_limits {
    max_concurrent_dispatches = 4
    max_dispatches_per_second = 2
  }

  # One named task per race (decide-<dataset>-<race>), so a day queued twice is queued once.
  # A race's sales close minutes after its decision: retry briefly, never for long. The
  # service answers 2xx once the race is decided (bought, passed, skipped or failed) and 5xx
  # only for what a retry may cure; a retried call finds the decision in the journal.
  retry_config {
    max_attempts       = 3
    max_retry_duration = "90s"
    min_backoff        = "5s"
    max_backoff        = "30s"
  }

  depends_on = [google_project_service.api]
}

resource "google_cloud_tasks_queue" "settle" {
  project  = var.project_id
  name     = "keiba-settle"
  location = var.region

  rate_limits {
    max_concurrent_dispatches = 4
    max_dispatches_per_second = 2
  }

  # One named task per race (settle-<dataset>-<race>), first due a few minutes after post
  # (race_day.settle_first_min). The service answers 503 until the result is official, and
  # 200 once the race's tickets are settled, or once race_day.settle_give_up_min has passed
  # (the race is then recorded as failed). A result is official some 10-20 minutes after
  # post, later after a stewards' inquiry (審議); a retried call is cheap and settles nothing
  # twice. Back-off 60 s doubling to 5 min, attempts unlimited for 25 h: the queue outlasts
  # any give-up time the configuration accepts (1 h by default, at most 24 h), so it is
  # always the service that ends a race's settlement, never the queue.
  retry_config {
    max_attempts       = -1
    max_retry_duration = "90000s"
    min_backoff        = "60s"
    max_backoff        = "300s"
  }

  depends_on = [google_project_service.api]
}
