"""The Terraform stack (deploy/terraform): every file parses as HCL2, and its invariants hold.

`terraform validate` needs the Terraform binary and the Google provider, neither of which any
package registry carries; python-hcl2 parses the files, and these tests check what the stack
promises: least-privilege grants, private buckets, write-once audit checkpoints, partitioned
tables, one repository allowed to deploy, no secret values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import typer

from keiba.cli.serve_cli import serve
from keiba.common.config import KeibaConfig, RaceDayConfig
from keiba.common.storage.bigquery import DATASET_LABEL, bigquery_dataset_id

STACK = Path(__file__).resolve().parents[2] / "deploy" / "terraform"
JOBS = {
    "collect",
    "features",
    "train",
    "evaluate",
    "backtest",
    "sweep",
    "enqueue",
    "audit-export",
}

# Every role of every identity, by scope: the stack's grants must be exactly these.
GRANTS = {
    "collect": {
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectCreator", "roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataEditor"],
    },
    "features": {
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataEditor"],
    },
    "train": {
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectCreator", "roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataViewer"],
    },
    "evaluate": {
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataEditor"],
    },
    "backtest": {
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataViewer"],
    },
    "sweep": {  # writes its points and report under sweeps/, each once
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectCreator", "roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataViewer"],
    },
    "enqueue": {
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectCreator", "roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataEditor"],
        "queue": ["roles/cloudtasks.enqueuer"],
        "tasks": ["roles/iam.serviceAccountUser"],
    },
    "audit-export": {"audit": ["roles/storage.objectCreator", "roles/storage.objectViewer"]},
    "api": {  # decides races: loads cards and odds, builds features
        "project": ["roles/bigquery.jobUser"],
        "data": ["roles/storage.objectCreator", "roles/storage.objectViewer"],
        "state": ["roles/storage.objectUser"],
        "dataset": ["roles/bigquery.dataEditor"],
    },
    "mlflow": {"project": ["roles/cloudsql.client"], "mlflow": ["roles/storage.objectUser"]},
}
# Roles granted outside that table: deploying, starting jobs, calling the service.
OTHER_ROLES = {
    "roles/secretmanager.secretAccessor",
    "roles/run.invoker",
    "roles/run.developer",
    "roles/artifactregistry.writer",
    "roles/iam.serviceAccountUser",
    "roles/iam.workloadIdentityUser",
    "roles/eventarc.eventReceiver",
    "roles/pubsub.publisher",
}


def _plain(node: Any) -> Any:
    """python-hcl2's tree without its quotes and markers."""
    if isinstance(node, dict):
        return {
            _plain(k): _plain(v)
            for k, v in node.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def _parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(_plain(hcl2.load(handle)))


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """All files merged: resources by (type, name), locals, variables, the raw text."""
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    merged: dict[str, Any] = {"locals": {}, "variable": {}, "text": ""}
    for path in sorted(STACK.glob("*.tf")):
        tree = _parse(path)
        merged["text"] += path.read_text()
        for block in tree.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    assert (kind, name) not in resources, f"{kind}.{name} twice"
                    resources[(kind, name)] = body
        for block in tree.get("locals", []):
            merged["locals"].update(block)
        for block in tree.get("variable", []):
            merged["variable"].update(block)
    merged["resources"] = resources
    return merged


def _of(stack: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for (k, name), body in stack["resources"].items() if k == kind}


def test_every_file_parses() -> None:
    files = sorted(STACK.glob("*.tf"))
    assert len(files) >= 10
    for path in files:
        assert isinstance(_parse(path), dict), path


def test_grants_are_exactly_the_least_privilege_table(stack: dict[str, Any]) -> None:
    assert stack["locals"]["grants"] == GRANTS
    assert set(stack["locals"]["jobs_and_service"]) == JOBS | {"api", "mlflow"}


def test_no_broad_roles_public_members_or_authoritative_policies(stack: dict[str, Any]) -> None:
    text = stack["text"]
    literal_roles = set(re.findall(r'"(roles/[\w.]+)"', text))
    table_roles = {r for scopes in GRANTS.values() for roles in scopes.values() for r in roles}
    assert literal_roles <= table_roles | OTHER_ROLES, literal_roles - table_roles - OTHER_ROLES
    assert not re.search(r"roles/(owner|editor|viewer)\b", text)
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text
    assert not [k for k, _ in stack["resources"] if k.endswith(("_iam_policy", "_iam_binding"))]


def test_each_job_runs_as_its_own_account(stack: dict[str, Any]) -> None:
    assert set(stack["locals"]["run_jobs"]) == JOBS
    job = _of(stack, "google_cloud_run_v2_job")["job"]
    inner = job["template"][0]["template"][0]
    assert inner["service_account"] == "${google_service_account.runtime[each.key].email}"
    service = _of(stack, "google_cloud_run_v2_service")["api"]
    assert service["template"][0]["service_account"] == (
        '${google_service_account.runtime["api"].email}'
    )


def test_buckets_are_private_with_uniform_access(stack: dict[str, Any]) -> None:
    buckets = _of(stack, "google_storage_bucket")
    assert set(buckets) == {"data", "audit", "state", "mlflow"}
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name


def test_audit_checkpoints_are_retained(stack: dict[str, Any]) -> None:
    audit = _of(stack, "google_storage_bucket")["audit"]
    policy = audit["retention_policy"][0]
    assert policy["retention_period"] == "${var.audit_retention_days * 86400}"
    assert policy["is_locked"] == "${var.lock_audit_retention}"
    assert stack["variable"]["audit_retention_days"]["default"] >= 365
    assert "lifecycle_rule" not in audit and "versioning" not in audit


def test_raw_pages_age_into_colder_storage(stack: dict[str, Any]) -> None:
    rules = _of(stack, "google_storage_bucket")["data"]["lifecycle_rule"]
    moves = {
        r["action"][0]["storage_class"]: r["condition"][0]
        for r in rules
        if r["action"][0]["type"] == "SetStorageClass"
    }
    assert set(moves) == {"NEARLINE", "COLDLINE"}
    for condition in moves.values():
        assert condition["matches_prefix"] == ["raw-data/"]


def test_the_dataset_is_the_one_keiba_opens(stack: dict[str, Any]) -> None:
    dataset = _of(stack, "google_bigquery_dataset")["keiba"]
    assert dataset["dataset_id"] == 'keiba_${replace(var.dataset, "-", "_")}'
    for name in (stack["variable"]["dataset"]["default"], "jra-2018"):  # the same rule as keiba's
        assert bigquery_dataset_id(name) == "keiba_" + name.replace("-", "_")
    assert dataset["labels"] == {DATASET_LABEL: "${var.dataset}"}
    assert stack["locals"]["warehouse_env"] == {
        "KEIBA_STORAGE__WAREHOUSE": "bigquery",
        "KEIBA_STORAGE__DATASET": "${var.dataset}",
        "KEIBA_STORAGE__BIGQUERY_PROJECT": "${var.project_id}",
        "KEIBA_STORAGE__BIGQUERY_LOCATION": "${var.location}",
    }
    assert not _of(stack, "google_bigquery_table")  # keiba creates its tables from its contract


def test_secrets_have_no_values_in_code(stack: dict[str, Any]) -> None:
    secrets = stack["locals"]["secrets"]
    assert set(secrets) == {
        "ipat-credentials",
        "api-token",
        "alert-webhook-url",
        "ledger-url",
        "mlflow-backend-uri",
    }
    # the only versions the stack writes: Cloud SQL's URLs, with passwords it generates
    versions = _of(stack, "google_secret_manager_secret_version")
    assert set(versions) == {"sql_url"}
    assert "random_password.sql[each.key].result" in versions["sql_url"]["secret_data"]
    assert not re.search(r"password\s*=\s*\"", stack["text"])
    assert set(stack["locals"]["secret_readers"]) == set(secrets)
    assert stack["locals"]["secret_readers"]["ipat-credentials"] == ["api"]
    assert stack["locals"]["secret_readers"]["mlflow-backend-uri"] == ["mlflow"]
    api = _of(stack, "google_cloud_run_v2_service")["api"]["template"][0]["containers"][0]
    settings = {e["name"]: e.get("value") for e in api["env"]}
    assert settings["KEIBA_SECRETS__PROVIDER"] == "secret-manager"
    assert settings["KEIBA_SECRETS__PROJECT"] == "${var.project_id}"
    assert settings["KEIBA_EXECUTION__SECRETS"] == "store"
    assert "alert-webhook-url" in settings["KEIBA_MONITOR__WEBHOOK_SECRET"]
    assert "KEIBA_MONITOR__WEBHOOK_URL" not in stack["text"]


def test_mlflow_runs_behind_iam_as_its_own_account(stack: dict[str, Any]) -> None:
    service = _of(stack, "google_cloud_run_v2_service")["mlflow"]
    assert service["count"] == "${var.deploy_mlflow ? 1 : 0}"
    template = service["template"][0]
    assert template["service_account"] == '${google_service_account.runtime["mlflow"].email}'
    (container,) = template["containers"]
    args = container["args"]
    flags = dict(zip(args[1::2], args[2::2], strict=False))
    assert container["command"] == ["mlflow"] and args[0] == "server"
    assert flags["--artifacts-destination"] == (
        "gs://${google_storage_bucket.mlflow.name}/artifacts"
    )
    assert flags["--allowed-hosts"] == "${local.mlflow_allowed_hosts}"
    assert stack["locals"]["mlflow_allowed_hosts"] == "keiba-mlflow-*.run.app"
    (backend,) = [e for e in container["env"] if e["name"] == "MLFLOW_BACKEND_STORE_URI"]
    assert "mlflow-backend-uri" in backend["value_source"][0]["secret_key_ref"][0]["secret"]
    invoker = _of(stack, "google_cloud_run_v2_service_iam_member")["mlflow_invoker"]
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["for_each"] == "${var.deploy_mlflow ? local.mlflow_invokers : {}}"
    assert set(stack["locals"]["mlflow_clients"]) <= JOBS


def test_only_the_repository_may_deploy(stack: dict[str, Any]) -> None:
    provider = _of(stack, "google_iam_workload_identity_pool_provider")["github"]
    assert provider["oidc"][0]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    condition = provider["attribute_condition"]
    assert 'assertion.repository == \\"${var.github_repository}\\"' in condition
    binding = _of(stack, "google_service_account_iam_member")["github_impersonates_deployer"]
    assert binding["member"].endswith("/attribute.repository/${var.github_repository}")


def test_daily_and_weekly_schedules_in_japan_time(stack: dict[str, Any]) -> None:
    schedules = stack["locals"]["schedules"]
    assert set(schedules) <= JOBS
    assert schedules["collect"].endswith("* * *") and schedules["train"].endswith("* * 1")
    scheduler = _of(stack, "google_cloud_scheduler_job")["job"]
    assert scheduler["time_zone"] == "Asia/Tokyo"
    assert "oauth_token" in scheduler["http_target"][0]
    queue = _of(stack, "google_cloud_tasks_queue")["decide"]
    assert queue["retry_config"][0]["max_retry_duration"] == "90s"


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration.removesuffix("s"))


def test_settlement_is_retried_until_results_are_official(stack: dict[str, Any]) -> None:
    """The settle queue retries long enough for the give-up time of settlement (and an
    inquiry); its back-off never hammers the service."""
    retry = _of(stack, "google_cloud_tasks_queue")["settle"]["retry_config"][0]
    field = RaceDayConfig.model_fields["settle_give_up_min"]
    longest = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
    give_up_s = int(longest) * 60  # the longest give-up the configuration accepts
    assert _seconds(retry["max_retry_duration"]) >= give_up_s + 3600
    assert retry["max_attempts"] == -1  # unlimited: the duration alone ends the retries
    assert _seconds(retry["min_backoff"]) >= 30
    assert _seconds(retry["max_backoff"]) <= 600


def test_every_resource_is_in_the_projects_variable(stack: dict[str, Any]) -> None:
    for (kind, name), body in stack["resources"].items():
        if "project" in body:
            assert body["project"] == "${var.project_id}", f"{kind}.{name}"


def test_the_containers_set_only_configuration_keiba_knows(stack: dict[str, Any]) -> None:
    names = set(re.findall(r'name\s*=\s*"(KEIBA_[A-Z_]+)"', stack["text"]))
    assert "KEIBA_STORAGE__OBJECT_STORE_URL" in names
    names |= set(stack["locals"]["warehouse_env"]) | set(stack["locals"]["tasks_env"])
    sections = {
        name: set(field.annotation.model_fields)  # type: ignore[union-attr]
        for name, field in KeibaConfig.model_fields.items()
        if hasattr(field.annotation, "model_fields")
    }
    serve_envvars = {
        p.envvar
        for p in typer.main.get_command_from_info(
            typer.models.CommandInfo(callback=serve),
            pretty_exceptions_short=True,
            rich_markup_mode=None,
        ).params
    }
    for name in names - {"KEIBA_HOME"}:
        if name.startswith("KEIBA_SERVE_"):
            assert name in serve_envvars, name
            continue
        section, _, key = name.removeprefix("KEIBA_").lower().partition("__")
        assert key in sections.get(section, set()), name


def test_each_race_is_a_task_the_service_alone_accepts(stack: dict[str, Any]) -> None:
    """The enqueue job queues the day as the tasks account; that account may only invoke the
    service, whose decide route accepts it (and only it) as a decider, for the URL's audience."""
    assert stack["locals"]["schedules"]["enqueue"].endswith("* * *")
    enqueue = stack["locals"]["run_jobs"]["enqueue"]
    assert "keiba run --date" in enqueue["command"][-1] and "--enqueue" in enqueue["command"][-1]
    tasks_env = stack["locals"]["tasks_env"]
    assert tasks_env["KEIBA_TASKS__QUEUE"] == "${google_cloud_tasks_queue.decide.id}"
    assert tasks_env["KEIBA_TASKS__SETTLE_QUEUE"] == "${google_cloud_tasks_queue.settle.id}"
    assert tasks_env["KEIBA_TASKS__INVOKER_EMAIL"] == "${google_service_account.tasks.email}"
    assert tasks_env["KEIBA_TASKS__TARGET_URL"] == "${local.api_url}"
    assert stack["locals"]["api_url"].startswith("https://keiba-api-")
    queues = _of(stack, "google_cloud_tasks_queue")
    assert set(queues) == {"decide", "settle"}
    grants = _of(stack, "google_cloud_tasks_queue_iam_member").values()
    granted = {g["name"] for g in grants}
    assert granted == {f"${{google_cloud_tasks_queue.{q}.name}}" for q in queues}
    for grant in grants:  # every queue's tasks are created by the enqueue job's account only
        assert grant["for_each"] == '${local.grants_on["queue"]}'
    acts_as = _of(stack, "google_service_account_iam_member")["runtime_acts_as_tasks"]
    assert acts_as["service_account_id"] == "${google_service_account.tasks.name}"
    holders = {i for i, scopes in GRANTS.items() if "queue" in scopes or "tasks" in scopes}
    assert holders == {"enqueue"}
    invoke = _of(stack, "google_cloud_run_v2_service_iam_member")["tasks_invoke_api"]
    assert invoke["role"] == "roles/run.invoker"
    assert invoke["member"] == "serviceAccount:${google_service_account.tasks.email}"
    service = _of(stack, "google_cloud_run_v2_service")["api"]["template"][0]
    args = service["containers"][0]["args"]
    assert "--decide" in args and "--trusted-proxy" in args
    assert "--google-audience" not in args  # from the environment, below
    audiences = {e["name"]: e.get("value") for e in service["containers"][0]["env"]}
    assert audiences["KEIBA_SERVE_GOOGLE_AUDIENCE"] == (
        '${join(" ", concat([local.api_url], var.api_extra_audiences))}'
    )
    assert args[args.index("--google-decider") + 1] == "${google_service_account.tasks.email}"
    assert "--google-operator" not in args
    assert service["scaling"][0]["max_instance_count"] == 1


def test_a_stored_raw_page_reaches_the_service_as_an_event(stack: dict[str, Any]) -> None:
    """Eventarc delivers the data bucket's finalized objects to the service's event route, as
    an account that may receive events and invoke that service, and nothing else; the service
    gives that account (only) the ingester role."""
    (trigger,) = _of(stack, "google_eventarc_trigger").values()
    assert trigger["count"] == "${local.raw_page_events ? 1 : 0}"
    assert stack["locals"]["raw_page_events"] == "${var.deploy_api && var.raw_page_events}"
    criteria = {c["attribute"]: c["value"] for c in trigger["matching_criteria"]}
    assert criteria == {
        "type": "google.cloud.storage.object.v1.finalized",
        "bucket": "${google_storage_bucket.data.name}",
    }
    assert trigger["location"] == "${lower(var.location)}"  # the bucket's location
    run = trigger["destination"][0]["cloud_run_service"][0]
    assert run["service"] == "${google_cloud_run_v2_service.api[0].name}"
    assert run["path"] == "/events/raw-page"
    account = "${google_service_account.events.email}"
    assert trigger["service_account"] == account
    members = [
        (kind, name, body["role"])
        for (kind, name), body in stack["resources"].items()
        if kind.endswith("_iam_member") and body.get("member") == f"serviceAccount:{account}"
    ]
    assert sorted(members) == [
        ("google_cloud_run_v2_service_iam_member", "events_invoke_api", "roles/run.invoker"),
        ("google_project_iam_member", "events_receiver", "roles/eventarc.eventReceiver"),
    ]
    invoke = _of(stack, "google_cloud_run_v2_service_iam_member")["events_invoke_api"]
    assert invoke["name"] == "${google_cloud_run_v2_service.api[0].name}"
    publisher = _of(stack, "google_project_iam_member")["gcs_publishes_events"]
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == (
        "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    )
    args = _of(stack, "google_cloud_run_v2_service")["api"]["template"][0]["containers"][0]["args"]
    assert "--ingest-events" in args
    assert args[args.index("--google-ingester") + 1] == account
    assert args.count("--google-ingester") == 1


def test_a_sweep_of_backtests_fans_out_as_job_tasks(stack: dict[str, Any]) -> None:
    """keiba-sweep runs `keiba backtest sweep` as var.sweep_tasks tasks (each reads its share
    from Cloud Run's CLOUD_RUN_TASK_INDEX/COUNT); every other job is one task."""
    jobs = stack["locals"]["run_jobs"]
    sweep = jobs["sweep"]
    assert sweep["args"] == ["backtest", "sweep", "--grid", "/mnt/state/sweeps/grid.json"]
    assert sweep["home"] == "/mnt/state" and sweep["tasks"] == "${var.sweep_tasks}"
    assert {name for name, job in jobs.items() if job["tasks"] != 1} == {"sweep"}
    job = _of(stack, "google_cloud_run_v2_job")["job"]
    assert job["template"][0]["task_count"] == "${each.value.tasks}"
    assert stack["variable"]["sweep_tasks"]["default"] > 1
    assert "sweep" not in stack["locals"]["schedules"]  # started by hand, with its grid
    # the sweep writes objects once: create and read, never replace or delete
    assert GRANTS["sweep"]["data"] == ["roles/storage.objectCreator", "roles/storage.objectViewer"]


def test_cloud_sql_holds_the_ledger_and_mlflow_behind_the_connector(stack: dict[str, Any]) -> None:
    """deploy_cloudsql: one PostgreSQL instance without authorized networks, backed up; a
    database and a user per use; the URLs in Secret Manager; the connector mounted on, and
    roles/cloudsql.client granted to, exactly the ledger's readers (and MLflow's server)."""
    assert stack["variable"]["deploy_cloudsql"]["default"] is False
    instance = _of(stack, "google_sql_database_instance")["keiba"]
    assert instance["count"] == "${var.deploy_cloudsql ? 1 : 0}"
    assert instance["database_version"].startswith("POSTGRES_")
    assert instance["deletion_protection"] is True
    settings = instance["settings"][0]
    assert settings["edition"] == "ENTERPRISE" and settings["tier"] == "${var.cloudsql_tier}"
    assert settings["deletion_protection_enabled"] is True
    backups = settings["backup_configuration"][0]
    assert backups["enabled"] is True and backups["point_in_time_recovery_enabled"] is True
    network = settings["ip_configuration"][0]
    assert "authorized_networks" not in network and network["ssl_mode"] == "ENCRYPTED_ONLY"
    assert stack["locals"]["sql_databases"] == {"ledger": "keiba", "mlflow": "mlflow"}
    users = _of(stack, "google_sql_user")["user"]
    assert users["password"] == "${random_password.sql[each.key].result}"
    version = _of(stack, "google_secret_manager_secret_version")["sql_url"]
    assert version["for_each"] == (
        '${var.deploy_cloudsql ? {ledger = "ledger-url", mlflow = "mlflow-backend-uri"} : {}}'
    )
    assert "?host=/cloudsql/%s" in version["secret_data"]

    assert stack["locals"]["ledger_users"] == '${local.secret_readers["ledger-url"]}'
    clients = _of(stack, "google_project_iam_member")["cloudsql_client"]
    assert clients["role"] == "roles/cloudsql.client"
    assert clients["for_each"] == "${var.deploy_cloudsql ? toset(local.ledger_users) : toset([])}"
    assert GRANTS["mlflow"]["project"] == ["roles/cloudsql.client"]
    holders = {i for i, scopes in GRANTS.items() if "roles/cloudsql.client" in str(scopes)}
    assert holders == {"mlflow"}  # the others only with deploy_cloudsql, above

    ledger_readers = set(stack["locals"]["secret_readers"]["ledger-url"])
    assert ledger_readers == {"api", "audit-export"}
    job = _of(stack, "google_cloud_run_v2_job")["job"]["template"][0]["template"][0]
    uses = '${var.deploy_cloudsql && contains(local.ledger_users, each.key) ? ["cloudsql"] : []}'
    (mount,) = [
        m
        for m in job["containers"][0]["dynamic"]
        if "volume_mounts" in m and m["volume_mounts"]["content"][0]["name"] == "cloudsql"
    ]
    assert mount["volume_mounts"]["for_each"] == uses
    assert mount["volume_mounts"]["content"][0]["mount_path"] == "/cloudsql"
    (volume,) = [v for v in job["dynamic"] if v["volumes"]["content"][0]["name"] == "cloudsql"]
    assert volume["volumes"]["for_each"] == uses
    sql = volume["volumes"]["content"][0]["cloud_sql_instance"][0]
    assert sql["instances"] == ["${local.sql_instance}"]
    api = _of(stack, "google_cloud_run_v2_service")["api"]["template"][0]
    (api_volume,) = api["dynamic"]
    assert api_volume["volumes"]["content"][0]["cloud_sql_instance"][0] == sql
    mlflow = _of(stack, "google_cloud_run_v2_service")["mlflow"]["template"][0]
    assert mlflow["volumes"][0]["cloud_sql_instance"][0]["instances"] == [
        "${local.mlflow_sql_instance}"
    ]
