# The cloud warehouse's tables, partitioned by race day (a query reads only the days it names).
# Not read or written by keiba yet: the BigQuery warehouse adapter is later work.
resource "google_bigquery_dataset" "keiba" {
  dataset_id  = "keiba"
  project     = var.project_id
  location    = var.location
  description = "keiba: raw races, point-in-time features, predictions."
}

locals {
  bigquery_tables = {
    races_raw = {
      clustering = ["race_id"]
      schema = [
        { name = "race_id", type = "STRING", mode = "REQUIRED" },
        { name = "race_date", type = "DATE", mode = "REQUIRED" },
        { name = "venue_code", type = "INT64", mode = "REQUIRED" },
        { name = "race_no", type = "INT64", mode = "REQUIRED" },
        { name = "post_time", type = "TIMESTAMP", mode = "NULLABLE" },
        { name = "content_key", type = "STRING", mode = "REQUIRED" },
        { name = "record", type = "JSON", mode = "REQUIRED" },
        { name = "source", type = "STRING", mode = "REQUIRED" },
        { name = "ingested_at", type = "TIMESTAMP", mode = "REQUIRED" },
      ]
    }
    features = {
      clustering = ["feature_version"]
      schema = [
        { name = "race_id", type = "STRING", mode = "REQUIRED" },
        { name = "horse_no", type = "INT64", mode = "REQUIRED" },
        { name = "race_date", type = "DATE", mode = "REQUIRED" },
        { name = "feature_version", type = "STRING", mode = "REQUIRED" },
        { name = "features", type = "JSON", mode = "REQUIRED" },
        { name = "computed_at", type = "TIMESTAMP", mode = "REQUIRED" },
      ]
    }
    predictions = {
      clustering = ["model_version"]
      schema = [
        { name = "race_id", type = "STRING", mode = "REQUIRED" },
        { name = "horse_no", type = "INT64", mode = "REQUIRED" },
        { name = "race_date", type = "DATE", mode = "REQUIRED" },
        { name = "model_version", type = "STRING", mode = "REQUIRED" },
        { name = "p_model", type = "FLOAT64", mode = "REQUIRED" },
        { name = "p_market", type = "FLOAT64", mode = "NULLABLE" },
        { name = "p_combined", type = "FLOAT64", mode = "NULLABLE" },
        { name = "predicted_at", type = "TIMESTAMP", mode = "REQUIRED" },
      ]
    }
  }
}

resource "google_bigquery_table" "table" {
  for_each            = local.bigquery_tables
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.keiba.dataset_id
  table_id            = each.key
  clustering          = each.value.clustering
  schema              = jsonencode(each.value.schema)
  deletion_protection = true

  time_partitioning {
    type  = "DAY"
    field = "race_date"
  }

  require_partition_filter = true
}
