"""The bundle's Lakeview dashboards and SQL alerts: the committed files are what the installed
plugins generate now, and every query runs on local Spark over tables of the real schemas.

The findings table is written by the pipeline's own ``update_findings`` (fake security
detectors over two days: findings open, new and resolved). Each installed model's prediction
table is built with exactly the columns ``<model>_predictions`` has (:func:`prediction_columns`;
the fake plugin's real, trained and scored tables check that function). Tables are temporary
views named like the tables' last part, which is how the dashboards name them (the bundle sets
``dataset_catalog``/``dataset_schema``); the alerts' ``${var.catalog}.ml.findings`` is mapped to
the same view. Each widget's query (its fields, aggregated as Lakeview does, over its dataset's
SQL) is executed, so a column a widget or a dataset names that the table lacks fails here.
Lakeview itself (the JSON's acceptance by a workspace) is not tested: docs/databricks.md."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml

from health_monitor.config import Settings
from health_monitor.errors import ConfigError, SchemaError
from health_monitor.host import load_host
from health_monitor.plugins import make_plugin_manager
from health_monitor.reports.findings import findings_table, update_findings
from health_monitor.reports.lakeview import ALERTS_FILE, SUFFIX, bundle_files, write_bundle_files
from health_monitor.reports.lakeview.dashboards import dashboards
from health_monitor.reports.lakeview.queries import prediction_columns
from health_monitor.runtime import Runtime
from tests.fakes import SIGNAL_MODELS, FindingsPlugin, write_signal_predictions

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
_AGGREGATE = re.compile(r"^(SUM|AVG|COUNT|MAX|MIN)\(")
_SAMPLE = {"double": 0.5, "int": 1, "bigint": 1, "string": "x", "boolean": True}


@pytest.fixture(scope="module")
def host():
    host = load_host()
    assert not host.problems, host.problems
    return host


def test_the_committed_files_are_what_the_installed_plugins_generate(host):
    files = bundle_files(host)
    for relative, text in files.items():
        path = RESOURCES / relative
        assert path.is_file() and path.read_text() == text, (
            f"{path} is stale: run `health-monitor dashboards --out resources` and commit it"
        )
    committed = {p.name for p in (RESOURCES / "dashboards").glob(f"*{SUFFIX}")}
    assert committed == {Path(r).name for r in files if r.endswith(SUFFIX)}
    assert len(committed) == 1 + len({o.spec.domain for o in host.models.values()})


def test_writing_removes_a_dashboard_no_longer_generated_and_refuses_a_file(host, tmp_path):
    stale = tmp_path / "dashboards" / f"gone{SUFFIX}"
    stale.parent.mkdir()
    stale.write_text("{}")
    keep = tmp_path / "dashboards" / "notes.md"
    keep.write_text("mine")
    written = write_bundle_files(host, tmp_path)
    assert not stale.exists() and keep.exists()
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(bundle_files(host))
    with pytest.raises(ConfigError, match="--out .*is a file"):
        write_bundle_files(host, keep)


def test_a_column_that_cannot_be_quoted_is_refused_naming_the_model(make_host):
    import dataclasses

    from tests.fakes import FakePlugin, anomaly_model

    odd = dataclasses.replace(anomaly_model(), time_column="da`y", keys=("entity", "da`y"))
    with pytest.raises(SchemaError, match="fake_anomaly.*'da`y'"):
        dashboards(make_host({"cost": FakePlugin([odd])}))


# -- the queries on local Spark ---------------------------------------------------------------


def _views(spark, frames: dict) -> None:
    for name, frame in frames.items():
        frame.createOrReplaceTempView(name)


@pytest.fixture(scope="module")
def findings_view(spark, tmp_path_factory):
    """``findings`` as update_findings writes it after two daily runs; the expected counts."""
    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("lakeview") / "home"))
    fakes = load_host(make_plugin_manager(load_entry_points=False, plugins={"security": FindingsPlugin()}))
    today = dt.date.today()  # the alerts count findings of a recent day only
    threat, egress, privilege = SIGNAL_MODELS
    days = {
        today - dt.timedelta(days=2): {threat: {"u1": 0.9}, egress: {"u1": 0.8, "u2": 0.7}, privilege: {}},
        today - dt.timedelta(days=1): {threat: {"u1": 0.9, "u3": 0.95}, egress: {}, privilege: {"u1": 0.99}},
    }
    opened = 0
    for day, flagged in days.items():
        for model, users in flagged.items():
            write_signal_predictions(runtime, model, day, users)
        report = update_findings(runtime, fakes, explain=False)
        opened += len(report.opened)
    assert report.resolved and report.opened  # u2 resolved, u3 new
    findings = runtime.lakehouse.read(findings_table(runtime))
    findings.createOrReplaceTempView("findings")
    yield {"open": len(report.findings), "opened": opened}
    spark.catalog.dropTempView("findings")


def _prediction_frame(spark, spec):
    """Rows of two days for three entities, with exactly the columns of ``<model>_predictions``;
    base columns are text, the time column and as-of keys timestamps (to_date takes either)."""
    times = {spec.time_column, *(lk.timestamp_lookup_key for lk in spec.lookups if lk.timestamp_lookup_key)}
    columns = prediction_columns(spec)
    ddl = ", ".join(f"`{n}` {t or ('timestamp' if n in times else 'string')}" for n, t in columns)
    rows = []
    for day in (1, 2):
        for entity in range(3):
            row = []
            for name, kind in columns:
                if name in times or kind == "timestamp":
                    row.append(dt.datetime(2026, 3, day, 12))
                elif kind is None:
                    row.append(f"e{entity}")
                else:
                    row.append(_SAMPLE[kind] if kind != "double" else 0.1 * (entity + day))
            rows.append(tuple(row))
    return spark.createDataFrame(rows, ddl)


def widget_queries(board: dict):
    """(widget name, SQL) per widget query: its fields over its dataset, grouped by the fields
    that are not aggregates unless the query is disaggregated."""
    sql = {d["name"]: "".join(d["queryLines"]) for d in board["datasets"]}
    for page in board["pages"]:
        for item in page["layout"]:
            for query in item["widget"].get("queries", []):
                q = query["query"]
                select = ", ".join(f"{f['expression']} AS `{f['name']}`" for f in q["fields"])
                keys = [f["expression"] for f in q["fields"] if not _AGGREGATE.match(f["expression"])]
                group = f" GROUP BY {', '.join(keys)}" if keys and not q["disaggregated"] else ""
                yield (
                    item["widget"]["name"],
                    f"SELECT {select} FROM ({sql[q['datasetName']]}) AS dataset{group}",
                )


def _run(spark, board_name: str, board: dict) -> dict[str, list[dict]]:
    """Every widget's rows (as dicts), from one Spark job per dashboard (a UNION ALL of the widget
    queries, each collected to JSON): one job per widget took minutes on two busy cores."""
    queries = list(widget_queries(board))
    union = " UNION ALL ".join(
        f"SELECT '{widget}' AS widget, to_json(collect_list(struct(*))) AS rows FROM ({sql}) AS w{i}"
        for i, (widget, sql) in enumerate(queries)
    )
    try:
        collected = spark.sql(union).collect()
    except Exception:
        for widget, sql in queries:  # name the widget that fails
            try:
                spark.sql(sql).collect()
            except Exception as exc:
                raise AssertionError(
                    f"{board_name}: widget {widget} fails on local Spark:\n{sql}\n{exc}"
                ) from exc
        raise
    return {row["widget"]: json.loads(row["rows"]) for row in collected}


def test_every_dashboard_widget_runs_on_tables_of_the_real_schemas(spark, host, findings_view):
    predictions = {o.spec.prediction_table: _prediction_frame(spark, o.spec) for o in host.models.values()}
    _views(spark, predictions)
    try:
        for name, board in dashboards(host).items():
            results = _run(spark, name, board)
            if name == "overview":
                assert results["open_count"] == [{"count(finding_id)": findings_view["open"]}]
                assert sum(r["sum(opened)"] for r in results["opened_per_day"]) == findings_view["opened"]
                continue
            for owned in host.select_models(domain=name):
                latest = results[f"latest_{owned.spec.name}"]
                assert len(latest) == 3, f"{owned.spec.name}: the latest day has three entities"
                assert {r["day"] for r in latest} == {"2026-03-02"}
                assert len(results[f"daily_{owned.spec.name}"]) == 2  # two days
    finally:
        for view in predictions:
            spark.catalog.dropTempView(view)


def test_every_alert_query_runs_and_counts_the_new_findings(spark, findings_view):
    alerts = yaml.safe_load((RESOURCES / ALERTS_FILE).read_text())["resources"]["alerts"]
    counts = {}
    for key, alert in alerts.items():
        sql = re.sub(r"\$\{var\.catalog\}\.\w+\.(\w+)", r"\1", alert["query_text"])
        assert "${" not in sql, f"{key}: a variable is left in {sql}"
        rows = spark.sql(sql).collect()
        column = alert["evaluation"]["source"]["name"]
        assert len(rows) == 1 and column in rows[0].asDict(), f"{key}: no column {column} in {rows}"
        counts[key] = rows[0][column]
    # Yesterday u3 was newly flagged by the high-severity threat detector; u1 was already open.
    assert counts == {"health_monitor_new_severe_findings": 1, "health_monitor_findings_spike": 1}


def test_prediction_columns_are_the_columns_the_pipeline_writes(fake_trained_home, spark, findings_view):
    """On tables trained and scored by the real pipelines (the fake plugin), the declared columns
    are exactly the table's, and that plugin's own dashboard runs on them (a domain's dashboard
    also counts its open findings: ``findings_view``, which the test asks for, not inherits from
    the tests before it)."""
    runtime, fake_host = fake_trained_home
    views = {}
    for owned in fake_host.models.values():
        spec = owned.spec
        table = runtime.lakehouse.read(runtime.settings.predictions(spec.name))
        declared = prediction_columns(spec)
        assert [n for n, _ in declared] == table.columns, spec.name
        types = dict(table.dtypes)
        assert {n: t for n, t in declared if t} == {n: types[n] for n, t in declared if t}, spec.name
        views[spec.prediction_table] = table
    _views(spark, views)
    try:
        for name, board in dashboards(fake_host).items():
            if name != "overview":
                results = _run(spark, name, board)
                assert all(results[f"latest_{o.spec.name}"] for o in fake_host.select_models(domain=name))
    finally:
        for view in views:
            spark.catalog.dropTempView(view)
