"""No stage brings rows to the Python driver unless the allow-list below says what bounds them.

The stage code (``simulate``, ``gold``, ``features``, ``train``, ``infer``, the daily ``run``,
``findings``, ``report``, ``alerts`` and the plugins' specs) is parsed with :mod:`ast`, so a
comment or a string that mentions ``.collect()`` does not count. Every call of a kind in
:data:`KINDS` is found and named by (file, enclosing function, kind); each such triple must have an
entry in :data:`ALLOWED` with the reason its size is bounded, and every entry must still be found.
The core does not name plugins' files: in a plugin, the line of the call or the line above it
says why instead, in a comment ``# driver-read: <what bounds it>``.
No Spark session: the test reads source files only.

What a kind means, and where a name is ambiguous:

- Spark to the driver: ``collect``, ``toPandas``, ``toLocalIterator``, ``toArrow``, ``first()``
  (without arguments: ``F.first(col)`` is an aggregate; ``gc.collect()`` is Python's garbage
  collector), ``head``, ``tail`` and ``take(<int>)``.
  ``head`` and ``tail`` are pandas's names too, so they are listed even on pandas frames;
  ``take`` with anything but an integer literal or ``num=`` is Arrow's gather by index and is not
  counted (so ``df.take(n)`` with a variable escapes this test: write ``limit(n).collect()``).
- A Delta table read into Arrow on the driver: ``read_arrow``.
- Arrow to Python objects on the driver: ``to_pylist``, ``to_pandas``.
- Driver data into Spark: ``createDataFrame``.
- ``broadcast``: ``F.broadcast(df)`` collects ``df`` to the driver and ships it to every
  executor; ``sparkContext.broadcast(value)`` ships a driver value.
- ``serving``: constructing the serving wing's ``Champions`` or ``OnlineStore``, whose lookups
  read each table they touch whole into memory.

The serving wing (``health_monitor.serving``) reads tables into memory by design, for lookups
without Spark; it is not a stage and is not scanned. Neither are the CLI, the test kit
(``health_monitor.testing``) and the loaders' file readers outside the scanned packages.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Stage code: packages scanned whole, relative to the repository root.
SCANNED = [
    "core/health_monitor/featurestore",
    "core/health_monitor/gold",
    "core/health_monitor/jobs.py",
    "core/health_monitor/lakehouse",
    "core/health_monitor/models",
    "core/health_monitor/pipelines",
    "core/health_monitor/reports",
    "core/health_monitor/sdk",
    "core/health_monitor/simulate",
    "core/health_monitor/system",
    "plugins/*/health_monitor_*",
]

SPARK = {"collect", "toPandas", "toLocalIterator", "toArrow", "first", "head", "tail", "take"}
KINDS = SPARK | {"read_arrow", "to_pylist", "to_pandas", "createDataFrame", "broadcast"}
SERVING = {"Champions", "OnlineStore"}  # kind "serving"


SIMULATOR = "the simulator's account, built in Arrow on the driver by design (simulate is no Spark stage)"
LOADER = "a loader's check of a user's export, one table in Arrow on the driver (load-system, load-gold)"
GLOBAL = "a global aggregate: one row"
EMPTY = "an empty frame from a schema: no rows"

# (file, function, kind) -> what bounds it. Keep one reason per line; say what the size grows with.
ALLOWED: dict[tuple[str, str, str], str] = {
    # -- feature store, lakehouse adapters
    ("core/health_monitor/lakehouse/keys.py", "check_primary_key", "collect"): GLOBAL,
    ("core/health_monitor/featurestore/local.py", "LocalFeatureStore.create_table", "createDataFrame"): EMPTY,
    ("core/health_monitor/featurestore/local.py", "LocalFeatureStore.score_batch", "broadcast"): (
        "the champion model object, no rows; rows stream through mapInPandas on the executors"
    ),
    ("core/health_monitor/lakehouse/layout.py", "Span.of", "collect"): GLOBAL,
    ("core/health_monitor/lakehouse/local.py", "LocalLakehouse.read", "createDataFrame"): EMPTY,
    ("core/health_monitor/lakehouse/local.py", "LocalLakehouse.replace_where", "to_pylist"): (
        "the Delta log's add actions: one row per data file of the table"
    ),
    (
        "core/health_monitor/lakehouse/unity.py",
        "LocalNames.list",
        "collect",
    ): "SHOW TABLES: one row per table",
    ("core/health_monitor/lakehouse/unity.py", "UnityNames.list", "collect"): (
        "SHOW CATALOGS/SCHEMAS/TABLES: one row per catalog, schema or table"
    ),
    ("core/health_monitor/lakehouse/unity.py", "TableJournal.read", "collect"): "the load journal: one row",
    ("core/health_monitor/lakehouse/unity.py", "UnityLakehouse._frame", "createDataFrame"): (
        "Arrow the caller already holds (ops tables, findings, the simulator's tables) into Spark"
    ),
    ("core/health_monitor/lakehouse/unity.py", "UnityLakehouse._history", "collect"): (
        "DESCRIBE HISTORY: one row per commit Delta retains (its log retention)"
    ),
    ("core/health_monitor/lakehouse/unity.py", "UnityLakehouse._properties", "collect"): (
        "SHOW TBLPROPERTIES: one row per table property"
    ),
    ("core/health_monitor/lakehouse/unity.py", "UnityLakehouse.read_arrow", "toArrow"): (
        "the adapter of read_arrow: bounded by what each caller asks for (listed by caller here)"
    ),
    ("core/health_monitor/lakehouse/unity.py", "UnityLakehouse.vacuum", "collect"): (
        "VACUUM DRY RUN: one row per file to delete"
    ),
    # -- gold
    ("core/health_monitor/gold/build/__init__.py", "BuildContext.input", "createDataFrame"): (
        "a section of the account file (commitments, job SLAs): rows a person wrote"
    ),
    ("core/health_monitor/gold/build/billing.py", "build_commit_configurations", "broadcast"): (
        "one row (limit(1)): the account id"
    ),
    ("core/health_monitor/gold/build/billing.py", "build_dim_sku", "broadcast"): (
        "one row per SKU, cloud and unit of billing.list_prices"
    ),
    ("core/health_monitor/gold/build/billing.py", "build_fact_usage", "broadcast"): (
        "list price periods (billing.list_prices) and one discount row per day of account commitments"
    ),
    ("core/health_monitor/gold/build/billing.py", "build_fact_usage", "collect"): GLOBAL,
    ("core/health_monitor/gold/build/lakeflow.py", "_run_evidence", "broadcast"): (
        "the rows of compute.clusters not made by jobs: all-purpose clusters and their changes"
    ),
    ("core/health_monitor/gold/build/lakeflow.py", "build_dim_job", "broadcast"): (
        "one row per principal that created or runs a job"
    ),
    (
        "core/health_monitor/gold/build/runner.py",
        "_check_keys_across",
        "collect",
    ): "limit(5): an error's examples",
    ("core/health_monitor/gold/build/runner.py", "_fingerprint", "collect"): GLOBAL,
    ("core/health_monitor/gold/build/runner.py", "check_frame", "collect"): GLOBAL,
    ("core/health_monitor/gold/build/runner.py", "_input_fingerprint", "to_pylist"): (
        "a section of the account file: rows a person wrote"
    ),
    ("core/health_monitor/gold/build/runner.py", "_read_state", "read_arrow"): (
        "ops.gold_builds: one row per Gold table"
    ),
    (
        "core/health_monitor/gold/build/runner.py",
        "_read_state",
        "to_pylist",
    ): "the same ops table: one row per Gold table",
    ("core/health_monitor/gold/snapshot.py", "_append_versions", "collect"): GLOBAL,
    ("core/health_monitor/gold/contract.py", "_first_unparseable", "to_pylist"): LOADER,
    ("core/health_monitor/gold/contract.py", "_parse_json_maps", "to_pylist"): LOADER,
    ("core/health_monitor/gold/loader.py", "_numeric_text_columns", "to_pylist"): LOADER + "; the error path",
    # -- simulate (jobs.py writes what the simulator built)
    ("core/health_monitor/jobs.py", "advance_into.spliced", "read_arrow"): (
        SIMULATOR + "; the stored table, as large as the account it simulated, one table at a time"
    ),
    ("core/health_monitor/simulate/compute.py", "cluster_dim", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/entities.py", "_clusters", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/entities.py", "_users", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/entities.py", "with_backfills", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/performance.py", "simulate", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/security.py", "_Values.__init__", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/security.py", "audit_and_lineage", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/system/access.py", "_display_names", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/system/compute.py", "node_timeline", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/system/lakeflow.py", "principal_ids", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/system/quality.py", "_information_schema_columns", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/system/quality.py", "_information_schema_tables", "to_pylist"): SIMULATOR,
    ("core/health_monitor/simulate/system/quality.py", "_type_attributes", "to_pylist"): SIMULATOR,
    # -- system tables and inputs (loaders, labels import)
    ("core/health_monitor/system/inputs.py", "AccountInputs.to_yaml.rows", "to_pylist"): (
        "the account file's sections: rows a person wrote"
    ),
    ("core/health_monitor/system/inputs.py", "check_values", "to_pylist"): "the account file's sections",
    (
        "core/health_monitor/system/inputs.py",
        "read_account_inputs",
        "to_pylist",
    ): "the account file's sections",
    ("core/health_monitor/system/labels.py", "import_labels", "read_arrow"): (
        "ground_truth.incidents, merged whole by `labels import`: one row per known incident"
    ),
    (
        "core/health_monitor/system/labels.py",
        "import_labels",
        "to_pylist",
    ): "incident ids of that table and the file",
    (
        "core/health_monitor/system/loader.py",
        "_check_enums",
        "to_pylist",
    ): "value counts of unknown values (error path)",
    ("core/health_monitor/system/loader.py", "_parse_json_text", "to_pylist"): LOADER + "; the error path",
    ("core/health_monitor/system/sanity.py", "_quarantined", "to_pylist"): "the rows a value rule caught",
    ("core/health_monitor/system/sanity.py", "screen", "to_pylist"): "slice(0, 1): one example row",
    ("core/health_monitor/system/sanity.py", "write_quarantine", "read_arrow"): (
        "ops.quarantine, appended by rewriting: the rows loads left out"
    ),
    # -- features, train, infer, the daily run
    ("core/health_monitor/pipelines/refresh.py", "latest_day.get", "collect"): GLOBAL,
    ("core/health_monitor/pipelines/refresh.py", "read_state", "read_arrow"): (
        "ops.refresh_state: one row per feature and prediction table"
    ),
    ("core/health_monitor/pipelines/refresh.py", "read_state", "to_pylist"): "the same ops table",
    ("core/health_monitor/pipelines/train.py", "training_frame.read", "toPandas"): (
        "one model's training set, fitted on the driver by design: at most about "
        "max_training_rows base rows (a sample fixed by a hash of their keys above it), one "
        "label row each (labels that repeat a key are read once, then counted and sampled)"
    ),
    # -- findings, report, alerts, explain
    ("core/health_monitor/reports/findings.py", "latest_rows", "read_arrow"): (
        "the time column of a prediction table, then the rows of its latest day only"
    ),
    ("core/health_monitor/reports/findings.py", "latest_rows", "to_pandas"): "the rows of one day",
    (
        "core/health_monitor/reports/findings.py",
        "evaluate_rule",
        "head",
    ): "pandas: the rule's max_per_day signals",
    ("core/health_monitor/reports/findings.py", "read_findings", "read_arrow"): (
        "ml.findings, rewritten whole by findings: one row per finding episode (alerts: the open ones)"
    ),
    ("core/health_monitor/reports/findings.py", "read_findings", "to_pandas"): "the same findings",
    ("core/health_monitor/reports/findings.py", "_Explainer.with_drivers", "serving"): (
        "the flagged entities' rows of the tables a flagged model looks up (rows_reader), "
        "after one key column at a time"
    ),
    ("core/health_monitor/reports/findings.py", "rows_reader.read", "read_arrow"): (
        "one key column of a table a flagged model looks up, then the rows holding the flagged "
        "entities' keys (filters), or none of them (the schema)"
    ),
    ("core/health_monitor/reports/findings.py", "rows_reader.read", "to_pandas"): "the same key column",
    ("core/health_monitor/reports/findings.py", "rows_reader.read", "to_pylist"): (
        "the flagged entities' distinct key values, or one value"
    ),
    ("core/health_monitor/reports/alerts.py", "read_sent", "read_arrow"): (
        "ops.alerts_sent, appended by rewriting: one row per finding, channel and attempt series"
    ),
    ("core/health_monitor/reports/alerts.py", "read_sent", "to_pandas"): "the same alerts log",
    ("core/health_monitor/reports/feedback.py", "feedback_by_model", "read_arrow"): (
        "two columns of ground_truth.finding_feedback: one row per judged finding"
    ),
    ("core/health_monitor/reports/feedback.py", "feedback_by_model", "to_pylist"): "the same two columns",
    ("core/health_monitor/reports/feedback.py", "import_feedback", "read_arrow"): (
        "ground_truth.finding_feedback, merged whole by `labels import`: one row per judged finding"
    ),
    (
        "core/health_monitor/reports/feedback.py",
        "import_feedback",
        "to_pylist",
    ): "finding ids of that table and the file",
    ("core/health_monitor/reports/html/collect.py", "window_rows", "read_arrow"): (
        "the time column of a prediction table, then the rows of its latest WINDOW_DAYS days"
    ),
    ("core/health_monitor/reports/html/collect.py", "window_rows", "to_pandas"): "the same window",
    ("core/health_monitor/models/drift.py", "_windows", "read_arrow"): (
        "the time column of a prediction or feature table"
    ),
    ("core/health_monitor/models/drift.py", "model_drift", "read_arrow"): (
        "the model's output and numeric input columns: the latest RECENT_DAYS days, and the "
        "REFERENCE_DAYS days before the training cutoff (sampled after the read)"
    ),
    ("core/health_monitor/models/explain.py", "find_prediction", "head"): (
        "pandas: three example keys for an error message (the explain command, not a stage)"
    ),
}


@dataclass(frozen=True)
class Found:
    path: str
    function: str
    kind: str
    line: int


def _kind(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in SERVING:
        return "serving"
    if name not in KINDS:
        return None
    if isinstance(func, ast.Name) and name != "broadcast":
        return None  # a plain function of that name, not a method
    if name in ("collect", "first") and (call.args or call.keywords):
        return None  # F.first(col), F.collect_list(...): aggregates inside Spark
    receiver = func.value if isinstance(func, ast.Attribute) else None
    if name == "collect" and isinstance(receiver, ast.Name) and receiver.id == "gc":
        return None  # Python's garbage collector
    if name == "take":
        literal = len(call.args) == 1 and isinstance(call.args[0], ast.Constant)
        if not (literal and isinstance(call.args[0].value, int)) and not any(
            k.arg == "num" for k in call.keywords
        ):
            return None  # Arrow's take(indices)
    return name


def scan_source(source: str, path: str) -> list[Found]:
    """The driver reads in ``source``, each with its enclosing function (``Class.method``,
    ``outer.inner``; ``<module>`` at the top level)."""
    found: list[Found] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, [*scope, child.name])
                continue
            if isinstance(child, ast.Call) and (kind := _kind(child)) is not None:
                line = child.func.end_lineno or child.lineno  # where `.collect` is, in a chain
                found.append(Found(path, ".".join(scope) or "<module>", kind, line))
            visit(child, scope)

    visit(ast.parse(source, filename=path), [])
    return found


def scanned_files() -> list[Path]:
    files: set[Path] = set()
    for pattern in SCANNED:
        for match in ROOT.glob(pattern):
            files.update([match] if match.is_file() else match.rglob("*.py"))
    return sorted(files)


@functools.cache
def scan() -> tuple[Found, ...]:
    out: list[Found] = []
    for file in scanned_files():
        out += scan_source(file.read_text(), file.relative_to(ROOT).as_posix())
    return tuple(out)


MARKER = "# driver-read:"


def _marked(lines: list[str], line: int) -> bool:
    """Whether line ``line`` (1-based) or the one above says ``# driver-read: <reason>``."""
    near = lines[max(line - 2, 0) : line]
    return any(MARKER in text and text.split(MARKER, 1)[1].strip() for text in near)


def _allowed(found: Found) -> bool:
    if (found.path, found.function, found.kind) in ALLOWED:
        return True
    return found.path.startswith("plugins/") and _marked(
        (ROOT / found.path).read_text().splitlines(), found.line
    )


def test_every_driver_read_in_stage_code_is_allowed_with_a_reason():
    found = scan()
    new = [f for f in found if not _allowed(f)]
    assert not new, "driver read(s) not in the allow-list of tests/test_driver_collects.py:\n" + "\n".join(
        f"  {f.path}:{f.line} in {f.function}(): {f.kind}; bound it (a Spark aggregate, a limit, "
        "read_arrow(columns=..., filters=...)) or "
        + (
            f"say why above it: {MARKER} <what bounds it>"
            if f.path.startswith("plugins/")
            else f"add ({f.path!r}, {f.function!r}, {f.kind!r}) to ALLOWED with the reason its size is bounded"
        )
        for f in new
    )


def test_every_allowed_entry_is_still_found():
    seen = {(f.path, f.function, f.kind) for f in scan()}
    stale = sorted(set(ALLOWED) - seen)
    assert not stale, "allow-list entries no longer found (remove them): " + ", ".join(map(str, stale))


def test_every_reason_is_one_line():
    assert all(reason.strip() and "\n" not in reason for reason in ALLOWED.values())


def test_the_scanner_reads_code_not_comments():
    source = """
# df.collect() in a comment
def f(df, arr, F, spark, rows):
    text = "df.toPandas() in a string"
    first = F.first("x")  # an aggregate
    picked = arr.take(indices)  # Arrow's gather
    gc.collect()  # Python's garbage collector
    return df.collect(), df.take(5), spark.sparkContext.broadcast(rows), df.first()

class C:
    def m(self, lakehouse):
        def inner():
            return lakehouse.read_arrow("t").to_pylist()
        return inner
"""
    found = [(f.function, f.kind, f.line) for f in scan_source(source, "x.py")]
    assert found == [
        ("f", "collect", 8),
        ("f", "take", 8),
        ("f", "broadcast", 8),
        ("f", "first", 8),
        ("C.m.inner", "to_pylist", 13),
        ("C.m.inner", "read_arrow", 13),
    ]


def test_the_scanned_packages_exist():
    missing = [p for p in SCANNED if not list(ROOT.glob(p))]
    assert not missing, f"scanned paths that match nothing (moved?): {missing}"


def test_a_plugin_says_why_beside_the_call():
    source = """
def f(df, vocab, F):
    rows = (
        df.groupBy("w")
        # driver-read: one row per workspace
        .collect()
    )
    # driver-read:
    empty_reason = df.collect()
    return rows, df.crossJoin(F.broadcast(vocab))
"""
    lines = source.splitlines()
    marked = {(f.kind, f.line): _marked(lines, f.line) for f in scan_source(source, "plugins/x.py")}
    assert marked == {("collect", 6): True, ("collect", 9): False, ("broadcast", 10): False}
