# The cloud warehouse: one BigQuery dataset per keiba dataset, named `keiba_<name>` and labelled
# with its keiba name (how keiba finds it). keiba creates the tables itself on the first load,
# from its data contract: the race tables partitioned by race day and clustered by race, and the
# derived tables it writes (`features` clustered by feature version, `predictions` by model
# version) partitioned by race day as well, so a query reads only the days it names.
resource "google_bigquery_dataset" "keiba" {
  dataset_id  = "keiba_${replace(var.dataset, "-", "_")}"
  project     = var.project_id
  location    = var.location
  description = "keiba dataset ${var.dataset}: races, point-in-time features, predictions."
  labels = {
    "keiba-dataset" = var.dataset
  }
}

locals {
  # The warehouse settings every job and the service run with (keiba's storage section).
  warehouse_env = {
    KEIBA_STORAGE__WAREHOUSE         = "bigquery"
    KEIBA_STORAGE__DATASET           = var.dataset
    KEIBA_STORAGE__BIGQUERY_PROJECT  = var.project_id
    KEIBA_STORAGE__BIGQUERY_LOCATION = var.location
  }
}
