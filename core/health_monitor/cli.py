"""The ``health-monitor`` command.

Exit status: 0 when everything asked for succeeded, 1 when an item failed (the summary says
which, with its plugin), 2 on bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import errno
import json
import logging
import math
import os
import sys
import warnings
from pathlib import Path

from health_monitor import __version__
from health_monitor.config import (
    ENV_ACCOUNT_FILE,
    ENV_ALARM_BUDGET,
    ENV_CATALOG,
    ENV_HOME,
    ENV_ITEM_TIME_LIMIT,
    ENV_MAX_TRAINING_ROWS,
    ENV_RUNTIME,
    ENV_SOURCE_CATALOG,
    ENV_WORKERS,
    RUNTIMES,
    Settings,
)
from health_monitor.errors import ConfigError, HealthMonitorError
from health_monitor.sdk.detectors import budget_is_a_ceiling

log = logging.getLogger("health_monitor")


def _quiet_libraries() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow resets its loggers on import
    os.environ.setdefault("PYSPARK_HIDE_TRACEBACK", "1")
    # One "Downloading artifacts" bar per model loaded, on stderr: our own bars say what runs.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=UserWarning, message=".*input example.*")
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("mlflow", "py4j", "alembic", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {value}")
    return value


def _finite(text: str, what: str, above_zero: bool) -> float:
    """``text`` as a finite number >= 0 (above 0 with ``above_zero``), else the parser's error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not (value > 0 if above_zero else value >= 0) or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected {what} {'above 0' if above_zero else '>= 0'}, got {text}")
    return value


def _positive_float(text: str) -> float:
    return _finite(text, "a number", above_zero=True)


def _seconds(text: str) -> float:
    return _finite(text, "a number of seconds", above_zero=False)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is at most 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help=f"where the embedded lakehouse and MLflow store live (env {ENV_HOME}; default ~/.health-monitor)",
    )
    common.add_argument(
        "--catalog", default=argparse.SUPPRESS, help=f"catalog of all tables (env {ENV_CATALOG})"
    )
    common.add_argument(
        "--source-catalog",
        default=argparse.SUPPRESS,
        help=f"catalog to read the Databricks system tables from (env {ENV_SOURCE_CATALOG}; default system)",
    )
    common.add_argument(
        "--account-file",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"YAML file of commitments and job SLAs (env {ENV_ACCOUNT_FILE}; default <home>/account.yaml)",
    )
    common.add_argument(
        "--item-time-limit",
        type=_seconds,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="stop a feature table, model training or scoring that runs longer, report it with its "
        f"plugin and go on (env {ENV_ITEM_TIME_LIMIT}; default 1800; 0: no limit)",
    )
    common.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=argparse.SUPPRESS,
        help=f"the home: embedded (local lakehouse and MLflow under --home) or databricks (Unity Catalog, "
        f"Feature Engineering client, UC registry) (env {ENV_RUNTIME}; default databricks on a Databricks "
        "cluster, else embedded)",
    )
    common.add_argument(
        "--alarm-budget",
        type=float,
        default=argparse.SUPPRESS,
        metavar="N",
        help="alarms per entity per 30 days a calibrated anomaly detector may raise on normal days, "
        f"set at training on every detector (env {ENV_ALARM_BUDGET}; default: each detector's own, 1 "
        "unless its plugin declares another, e.g. 0.05 for the per-user security detectors)",
    )
    common.add_argument(
        "--max-training-rows",
        default=argparse.SUPPRESS,
        metavar="N",
        help="base rows a model trains and is evaluated on, at most; above, a sample of them fixed by "
        f"a hash of their keys (env {ENV_MAX_TRAINING_ROWS}; default 2000000)",
    )
    common.add_argument(
        "--workers",
        default=argparse.SUPPRESS,
        metavar="N",
        help="feature tables, or models to score, computed at once by the features and infer stages, each "
        f"in a thread of its own with its own Spark jobs (env {ENV_WORKERS}; default 1, and 2 for the "
        "daily run's features and inference on a local master of 2 cores or more: docs/scale.md)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more, with tracebacks"
    )

    parser = argparse.ArgumentParser(
        prog="health-monitor",
        description="Watch the health of a Databricks account with machine learning.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"health-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    def scope(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--domain", help="only this domain's models (and the feature tables they read)")
        group.add_argument("--model", help="only this model (and the feature tables it reads)")

    def rule_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--rule",
            action="append",
            metavar="RULE=POLICY",
            help="the policy of a value rule: refuse, quarantine or warn (repeatable; rules: date_range, "
            "end_before_start, not_finite, negative_original, long_string, identifier_chars, "
            "empty_table; see the README's Value rules)",
        )

    def simulation(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--scale",
            default="small",
            choices=["small", "medium", "seed"],
            help="small (for CI), medium, or seed (the architecture document's row counts); default: small",
        )
        p.add_argument(
            "--seed", type=_positive_int, default=7, help="random seed; the same seed gives the same tables"
        )
        p.add_argument(
            "--days", type=_positive_int, default=None, help="days of history (default: the scale's)"
        )
        p.add_argument("--end-date", type=_date, default=None, help="last simulated day, YYYY-MM-DD")
        p.add_argument(
            "--incidents",
            type=_positive_int,
            default=None,
            metavar="N",
            help="N times each incident type's base count (default: the scale's; small 1, medium 4): "
            "an incident-rich account to measure detectors per incident type",
        )

    p = add(
        "demo",
        "The main job: simulate an account if the home has none, build Gold from the system tables, "
        "then features, train, infer; print a summary.",
    )
    simulation(p)
    p = add(
        "run",
        "The scheduled daily job: snapshot and gold for the new data, then features and infer only for "
        "the days that changed, train the models the schedule says are due, vacuum old files.",
    )
    p.add_argument(
        "--train-every-days",
        type=_positive_int,
        default=7,
        metavar="N",
        help="retrain a model whose newest version is N or more days old (0: every run; default 7)",
    )
    p.add_argument(
        "--retrain-drift",
        type=_positive_float,
        metavar="PSI",
        help="also retrain a model whose output (its predictions) moved past this population stability "
        "index since its training (0.25 is a shift worth a look; at most once a week; read without Spark; "
        "default: no drift check)",
    )
    p.add_argument("--no-train", action="store_true", help="train only models that have no version yet")
    p.add_argument(
        "--retain-days",
        type=_positive_int,
        default=7,
        help="vacuum files of table versions replaced more than this many days ago (default 7)",
    )
    p.add_argument("--no-vacuum", action="store_true", help="do not vacuum")
    p.add_argument(
        "--no-snapshot",
        action="store_true",
        help="do not take today's information_schema/workspaces snapshot",
    )
    p = add(
        "simulate",
        "Generate a simulated Databricks account into the home: its system tables, account file, "
        "past snapshots and ground truth. Then run `gold`.",
    )
    simulation(p)
    p.add_argument("--force", action="store_true", help="replace an account that already exists")
    p.add_argument(
        "--advance",
        type=_positive_int,
        default=None,
        metavar="N",
        help="let the home's simulated account live N more days (then run `gold`): exercises the daily run",
    )
    p = add(
        "gold",
        "Build the Gold tables the installed plugins read from the system tables: only the days since "
        "the last build (plus a late-arrival window), or all of the history with --full.",
    )
    p.add_argument("--full", action="store_true", help="rebuild the Gold tables from all of the history")
    p.add_argument(
        "--all", action="store_true", help="every Gold table, also those no installed plugin reads"
    )
    p.add_argument(
        "--table",
        action="append",
        default=None,
        metavar="GOLD_TABLE",
        help="only this Gold table (repeatable)",
    )
    p = add(
        "snapshot",
        "Append today's information_schema tables/columns and workspaces to their Gold history tables "
        "(the system tables keep only the current state; run it daily, before `gold`).",
    )
    p.add_argument("--date", type=_date, default=None, help="the snapshot's date (default: today, UTC)")
    p = add(
        "load-system-tables",
        "Load exports of your account's system tables (Parquet, CSV or JSON lines; one file or folder "
        "per table, named like billing.usage), checked against the reference schemas first.",
    )
    p.add_argument(
        "source", type=Path, help="folder with billing.usage.parquet, access.audit/, ... per table"
    )
    rule_option(p)
    p = add(
        "load-gold", "Load your own Gold tables (Parquet or CSV exports), checked against the Gold contract."
    )
    p.add_argument(
        "source", type=Path, help="folder with <table>.parquet, <table>/ or <table>.csv per Gold table"
    )
    rule_option(p)
    for name, help in (
        ("features", "Compute feature tables from the Gold tables."),
        ("train", "Train, evaluate against baselines, register models in MLflow."),
        ("infer", "Score with each model's champion version and write <model>_predictions."),
    ):
        scope(add(name, help))
    p = add(
        "evaluate",
        "Each model's champion: its test metrics next to its baseline's, the 95%% interval of the "
        "difference, row counts and verdict.",
    )
    scope(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add(
        "promote",
        "Make a version of a model its champion by hand (what train's gate held back, or an older "
        "version to roll back); the reason, who and when are recorded on the version.",
    )
    p.add_argument("--model", required=True, help="the model, as `health-monitor models` names it")
    p.add_argument("--version", type=_positive_int, required=True, help="the registered version to promote")
    p.add_argument("--reason", required=True, help="why: recorded on the version as a tag")
    p.add_argument("--by", default=None, help="who promotes (default: the current user)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add(
        "findings",
        "What needs attention: each model's finding rule on its latest predictions, merged per entity, "
        "ranked by severity then score; kept in <catalog>.ml.findings with open/resolved states.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--domain", help="only findings with a signal from this domain")
    p.add_argument("--since", type=_date, default=None, help="only findings last seen on or after YYYY-MM-DD")
    p.add_argument("--all", action="store_true", help="resolved findings too (default: open ones)")
    p.add_argument(
        "--no-explain",
        action="store_true",
        help="do not load the champions to add each prediction's top features to its reason (faster)",
    )
    p = add(
        "alerts",
        "Send the open findings at or over a severity that a channel has not announced yet, to the "
        "channels of a config file (webhook, email); exit 3 when something was sent.",
    )
    p.add_argument(
        "--config", type=Path, default=None, help="the alerts YAML file (default: <home>/alerts.yaml)"
    )
    p.add_argument(
        "--min-severity",
        choices=["low", "medium", "high", "critical"],
        default=None,
        help="send findings of this severity or higher (default: the config's min_severity, else high)",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; send and record nothing")
    p = add("explain", "Explain one prediction: its top contributing features with values and weights.")
    p.add_argument("--model", required=True, help="the model whose prediction to explain")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="a key of the prediction; repeat per key column",
    )
    p.add_argument("--top", type=_positive_int, default=5, help="how many features (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("model-cards", "Write a Markdown model card per model (spec + measured metrics) and an index.")
    p.add_argument(
        "--out", type=Path, default=Path("docs/model-cards"), help="folder (default docs/model-cards)"
    )
    p.add_argument(
        "--measured-on",
        default="this home",
        help="what the metrics were measured on, printed on each card (e.g. 'the medium simulated account')",
    )
    p.add_argument(
        "--incident-benchmark",
        type=Path,
        action="append",
        default=None,
        metavar="FILE",
        help="the JSON of `benchmarks/bench_incidents.py evaluate --json FILE`: each detector's recall per "
        "incident type and false-alarm rate, pooled over several simulated accounts; repeatable (e.g. one "
        "file per domain): a detector in several files takes the last one's figures",
    )
    p = add(
        "report",
        "Write a self-contained HTML report (no scripts, no network): an overview of the findings, "
        "a page per domain with each model's series and flagged days, and a models page with "
        "metrics against baselines and drift since training.",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder to write (new, empty, or a report written before, which is replaced whole)",
    )
    p.add_argument("--domain", help="only this domain's models and findings")
    p.add_argument(
        "--no-update",
        action="store_true",
        help="report the stored findings as they are (default: update them from the latest predictions "
        "first, as `health-monitor findings` does)",
    )
    p.add_argument(
        "--no-explain",
        action="store_true",
        help="when updating the findings, do not load the champions to add each prediction's top features",
    )
    p = add(
        "dashboards",
        "Write the Asset Bundle's Lakeview dashboards (an overview of the findings and one per domain of "
        "the installed plugins) and SQL alerts on the findings table; reads no home.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("resources"),
        help="the bundle's resources folder: dashboards/<name>.lvdash.json, health_monitor_dashboards.yml "
        "and health_monitor_alerts.yml are written there (default: resources)",
    )
    p = add(
        "serve",
        "Serve predictions over HTTP on loopback: the latest from the prediction tables, as_of and unscored entities scored live.",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header names NAME (repeatable; default: loopback "
        "names only, which keeps web pages out by DNS rebinding)",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        help="require 'Authorization: Bearer <token>' on every request, the token read from this "
        "file (default: $HEALTH_MONITOR_SERVE_TOKEN if set, else no token)",
    )
    p = add(
        "recover",
        "Say whether a load that replaces many tables (load-gold, gold, snapshot, simulate, "
        "load-system-tables) stopped midway, which tables it replaced, and how to finish it; "
        "--undo puts every table back to its version before that load.",
    )
    p.add_argument(
        "--undo", action="store_true", help="restore each table of the unfinished load to its earlier version"
    )
    p = add(
        "plugins",
        "List the loaded plugins with their domain, distribution, version and the names each owns "
        "(feature tables, models, labels, explainers, tools), and the plugins refused.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("models", "List the registered model specs.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("tools", "List the agent tools of each domain's toolkit with their arguments.")
    p.add_argument("--domain", help="only this domain's toolkit")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add(
        "vacuum",
        "Delete what the home no longer needs: files of replaced table versions and killed writes, "
        "older than --retain-days (never a current version's, never one under an hour old).",
    )
    p.add_argument(
        "--retain-days",
        type=_positive_int,
        default=7,
        help="keep replaced versions' files this many days, for time travel and running readers (default 7)",
    )
    p.add_argument(
        "--models",
        action="store_true",
        help="also delete model versions that no alias (champion, challenger) points to, and their artifacts",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    p = add(
        "labels",
        "The account's known incidents, for evaluating its detectors: import a file of them, or list the "
        "incident types the installed models read.",
    )
    labels = p.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    q = labels.add_parser(
        "import",
        help="check FILE (CSV or YAML of incidents: type, entity, start, end, ...) and merge it by id "
        "into <catalog>.ground_truth.incidents; the next `train` evaluates the detectors against it",
        description="Check FILE and merge its incidents by id into <catalog>.ground_truth.incidents. "
        "Format: docs/labels.md.",
        parents=[common],
    )
    q.add_argument("file", type=Path, help="a .csv (header row) or .yaml/.yml file (a list under incidents:)")
    q.add_argument("--replace", action="store_true", help="drop the table's previous incidents first")
    q = labels.add_parser(
        "types",
        help="the incident types the installed models read, with their entity kind and models",
        parents=[common],
    )
    q.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("tables", "List the tables in the home with rows and columns.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--schema",
        help="only this schema (gold, features, ml, ground_truth, ops; or a system schema: billing, ...)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    _quiet_libraries()
    from health_monitor.lakehouse.spark import spark_started, stop_spark

    owns_spark = not spark_started()  # a caller's session (tests, notebooks) is not ours to stop
    try:
        settings = Settings.from_env(
            home=getattr(args, "home", None),
            catalog=getattr(args, "catalog", None),
            source_catalog=getattr(args, "source_catalog", None),
            account_file=getattr(args, "account_file", None),
            item_time_limit=getattr(args, "item_time_limit", None),
            runtime=getattr(args, "runtime", None),
            alarm_budget=getattr(args, "alarm_budget", None),
            max_training_rows=getattr(args, "max_training_rows", None),
            workers=getattr(args, "workers", None),
        )
        if settings.on_databricks:  # before any command imports Spark: no workspace, no wait
            from health_monitor.runtime import require_workspace

            require_workspace()
        return COMMANDS[args.command](args, settings)
    except (HealthMonitorError, ValueError) as exc:
        if verbose:
            log.exception("failed")
        print(f"health-monitor {args.command}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except Exception as exc:
        disk = _disk_problem(exc)
        if disk is None:
            raise
        if verbose:
            log.exception("failed")
        print(f"health-monitor {args.command}: error: {disk} (-v shows the stack trace)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted; a table being written keeps its previous version, and the tables a load "
            "had already replaced are restored",
            file=sys.stderr,
        )
        return 130
    finally:
        # A clean stop of the JVM; leaving it to interpreter teardown can abort the process.
        if owns_spark:
            stop_spark()


def job() -> None:
    """The entry point of a Databricks ``python_wheel_task``: the task calls it and ignores what
    it returns, so the exit status is raised (a failed run fails the task)."""
    raise SystemExit(main())


_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the home is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EDQUOT: "the disk quota is exceeded",
}
_DISK_TEXTS = {
    "No space left on device": "the disk is full",
    "Read-only file system": "the home is on a read-only file system",
    "Permission denied": "permission denied",
    "Disk quota exceeded": "the disk quota is exceeded",
}


def _disk_problem(exc: BaseException | None) -> str | None:
    """One line for a full disk, a read-only home or a permission problem, wherever it surfaced
    (Python's OSError, or deep in a Spark/Java stack trace); None for anything else."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRORS:
            where = f": {exc.filename}" if exc.filename else ""
            return f"{_DISK_ERRORS[exc.errno]}{where}"
        text = str(exc)
        for needle, meaning in _DISK_TEXTS.items():
            if needle in text:
                line = next((ln.strip() for ln in text.splitlines() if needle in ln), needle)
                return f"{meaning} ({line[:200]})"
        exc = exc.__cause__ or exc.__context__
    return None


# -- commands ---------------------------------------------------------------------------------


def _runtime(settings: Settings, create: bool = False):
    """The home's runtime. Only the commands that fill a home (``demo``, ``simulate``, ``load-*``)
    create one: any other refuses a path that is not a home, so a typo is not an empty home."""
    from health_monitor.runtime import Runtime

    if settings.on_databricks:
        return Runtime.databricks(settings)
    home = settings.home
    if home.exists() and not home.is_dir():
        raise ConfigError(f"--home {home}: is a file, not a home folder")
    if not create and not home.exists():
        raise ConfigError(
            f"--home {home}: no such home; create one with `health-monitor demo`, `simulate` or "
            "`load-system-tables` (or check the path and HEALTH_MONITOR_HOME)"
        )
    return Runtime.embedded(settings)


def _host():
    from health_monitor.host import load_host

    host = load_host()
    for problem in host.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return host


def _print_reports(result_reports) -> None:
    from health_monitor.reports.summary import stage_lines

    for report in result_reports:
        print(f"{report.stage}:")
        for line in stage_lines(report):
            print(line)


def _exit_status(reports, host) -> int:
    failed = [i for r in reports for i in r.failed]
    if failed or host.problems:
        print(f"\n{len(failed)} item(s) failed, {len(host.problems)} plugin problem(s):", file=sys.stderr)
        for item in failed:
            print(f"  {item.stage} {item.item} [{item.plugin}]: {item.error}", file=sys.stderr)
        for problem in host.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from health_monitor.jobs import run_demo
    from health_monitor.reports.summary import demo_findings_lines

    runtime, host = _runtime(settings, create=True), _host()
    print(f"health-monitor {__version__} demo: home {settings.home}")
    result = run_demo(
        runtime,
        host,
        scale=args.scale,
        seed=args.seed,
        days=args.days,
        end_date=args.end_date,
        incidents=args.incidents,
    )
    if "simulated" in result.details:
        system = {
            k: v
            for k, v in result.details["simulated"].items()
            if k.startswith(f"{settings.source_catalog}.")
        }
        print(
            f"simulated a {args.scale} account (seed {args.seed}): {len(system)} system tables, "
            f"{sum(system.values()):,} rows"
        )
    elif "gold" in result.details:
        print(
            "using the system tables already in the home (remove the home or use another --home to simulate anew)"
        )
    else:
        print("using the Gold tables already in the home (no system tables: Gold was loaded with load-gold)")
    if "gold" in result.details:
        _print_gold_report(result.details["gold"])
    _print_reports(result.reports)
    print("\nfindings:")
    for line in demo_findings_lines(runtime, host):
        print(line)
    timings = ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items())
    print(f"\ntimings: {timings}")
    print(f"tables:  {settings.lakehouse_dir}  (list them: health-monitor tables)")
    print(
        f"mlflow:  {runtime.registry.tracking_uri}  (mlflow ui --backend-store-uri {runtime.registry.tracking_uri})"
    )
    return _exit_status(result.reports, host)


def cmd_run(args, settings: Settings) -> int:
    from health_monitor.jobs import DailySettings, run_daily
    from health_monitor.pipelines.refresh import describe_since

    runtime, host = _runtime(settings), _host()
    print(f"health-monitor {__version__} run: home {settings.home}")
    daily = DailySettings(
        train_every_days=None if args.no_train else args.train_every_days,
        retrain_drift=None if args.no_train else args.retrain_drift,
        retain_days=None if args.no_vacuum else args.retain_days,
        snapshot=not args.no_snapshot,
    )
    result = run_daily(runtime, host, daily)
    if "gold" in result.details:
        _print_gold_report(result.details["gold"])
    for title, plan in (
        ("features", result.details["feature_plan"]),
        ("infer", result.details["model_plan"]),
    ):
        if not plan:
            print(f"{title}: nothing changed")
            continue
        whole = sorted(n for n, since in plan.items() if since is None)
        print(f"{title}: {len(plan)} to refresh ({len(whole)} whole: {', '.join(whole) or 'none'})")
        for name, since in sorted(plan.items()):
            log.info("%s %s: %s", title, name, describe_since(since))
    if result.details.get("no_champion"):
        names = ", ".join(result.details["no_champion"])
        print(f"not scored, no champion (see `health-monitor evaluate --model M`): {names}")
    for model, why in result.details["trained"].items():
        print(f"train {model}: {why}")
    _print_reports(result.reports)
    findings = result.details["findings"]
    print(
        f"findings: {len(findings.findings)} open as of {findings.as_of}, {len(findings.opened)} new, "
        f"{len(findings.resolved)} resolved (list them: health-monitor findings; send them: health-monitor alerts)"
    )
    for model, error in sorted(findings.errors.items()):
        print(f"  finding rule of {model} failed: {error}")
    if "vacuum" in result.details:
        for line in result.details["vacuum"].lines():
            print(line)
    timings = ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items())
    print(f"\ntimings: {timings}")
    return _exit_status(result.reports, host)


def cmd_simulate(args, settings: Settings) -> int:
    from health_monitor.jobs import simulate_into

    runtime = _runtime(settings, create=True)
    if args.advance is not None:
        from health_monitor.jobs import advance_into

        rows = advance_into(runtime, args.advance)
        for name, n in rows.items():
            print(f"{name:<70} {n:>12,} rows")
        print("next: health-monitor gold   (incremental: only the new days and the late-arrival window)")
        return 0
    unfinished = runtime.lakehouse.unfinished_load()
    finishing = unfinished is not None and unfinished.command == "simulate"  # re-run to finish it
    if (runtime.has_system_tables() or runtime.has_gold()) and not (args.force or finishing):
        raise ConfigError(f"{settings.home} already has an account; pass --force to replace it")
    rows = simulate_into(runtime, args.scale, args.seed, args.days, args.end_date, args.incidents)
    for name, n in rows.items():
        print(f"{name:<70} {n:>12,} rows")
    print(f"account file: {settings.account_inputs_path}\nnext: health-monitor gold")
    return 0


def _print_gold_report(report) -> None:
    print("gold:")
    for step in report.steps:
        since = f" since {step.since}" if step.since else ""
        if step.status == "failed":
            line = f"FAILED: {step.error}"
        elif step.status == "skipped":
            line = "skipped"
        else:
            line = f"{step.rows:>12,} rows  {step.status}{since}  {step.seconds:5.1f}s"
        print(f"  {step.table:<44} {line}")
        for note in step.notes:
            print(f"  {'':<44} note: {note}")
    if report.unread:
        print(
            f"  not built, as no installed plugin reads them (gold --all builds them): {', '.join(report.unread)}"
        )


def cmd_gold(args, settings: Settings) -> int:
    from health_monitor.jobs import build_gold_into

    if args.all and args.table:
        raise ConfigError("gold: give --all or --table, not both")
    runtime = _runtime(settings)
    if not runtime.has_system_tables():
        raise ConfigError(
            f"no system tables in catalog {settings.source_catalog!r} of {settings.home}: "
            "run `health-monitor load-system-tables DIR` (your account) or `health-monitor simulate`"
        )
    host = None if args.all or args.table else _host()
    report = build_gold_into(runtime, full=args.full, tables=args.table, host=host)
    _print_gold_report(report)
    return 0 if report.ok else 1


def cmd_snapshot(args, settings: Settings) -> int:
    from health_monitor.gold.snapshot import take_snapshot

    report = take_snapshot(_runtime(settings), args.date)
    for name, n in dict(report).items():
        print(f"{name:<70} {n:>12,} rows")
    for message in report.messages():
        print(f"note: {message}")
    return 0 if report.ok else 1


def cmd_load_system_tables(args, settings: Settings) -> int:
    from health_monitor.system.loader import load_system_tables_into

    runtime = _runtime(settings, create=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = load_system_tables_into(runtime, args.source, policies=_policies(args.rule))
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    for name, n in rows.items():
        print(f"{name:<70} {n:>12,} rows")
    print("next: health-monitor snapshot && health-monitor gold")
    return 0


def _policies(items: list[str] | None) -> dict[str, str]:
    from health_monitor.system.sanity import parse_policies

    return parse_policies(items)


def cmd_load_gold(args, settings: Settings) -> int:
    from health_monitor.jobs import load_gold_into

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = load_gold_into(_runtime(settings, create=True), args.source, policies=_policies(args.rule))
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    for name, n in rows.items():
        print(f"{name:<70} {n:>12,} rows")
    return 0


def cmd_recover(args, settings: Settings) -> int:
    from health_monitor.lakehouse.loads import describe

    runtime = _runtime(settings)
    lakehouse = runtime.lakehouse
    record = lakehouse.unfinished_load()
    if record is None:
        print(f"no unfinished load in {settings.home}: its tables belong together")
        return 0
    if not args.undo:
        print(describe(lakehouse, record))
        return 1
    undone = lakehouse.undo_load()
    print(
        f"undid `{undone.command}` load {undone.id}: its {len(undone.tables)} tables are as they were before it"
    )
    return 0


def _stage(fn_name: str):
    def command(args, settings: Settings) -> int:
        from health_monitor import pipelines

        runtime, host = _runtime(settings), _host()
        report = getattr(pipelines, fn_name)(runtime, host, domain=args.domain, model=args.model)
        _print_reports([report])
        return _exit_status([report], host)

    return command


def cmd_evaluate(args, settings: Settings) -> int:
    from health_monitor.models.scorecards import scorecards
    from health_monitor.reports.feedback import feedback_by_model
    from health_monitor.reports.summary import fmt

    runtime = _runtime(settings)
    cards = scorecards(runtime, _host(), domain=args.domain, model=args.model)
    judged = feedback_by_model(runtime)
    for c in cards:
        c["feedback"] = judged.get(c["model"])
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    for c in cards:
        if c["status"] == "not trained":
            print(f"{c['model']:<34} {c['domain']:<12} not trained")
            continue
        metric, ci = c["headline_metric"], c.get("difference_ci95")
        shown = (
            f"v{c['version']}"
            if c["version"] is not None
            else f"no champion (v{c['challenger_version']} held back)"
        )
        difference = f"difference {c['difference']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]  " if ci else ""
        print(
            f"{c['model']:<34} {c['domain']:<12} {shown}  {metric}={fmt(c['metrics'].get(metric, float('nan')))} "
            f"baseline={fmt(c['baseline_metrics'].get(metric, float('nan')))}  {difference}{c['verdict']}  "
            f"(train {c['train_rows']:,} / test {c['test_rows']:,}, test from {c['split_cutoff']})"
            + _budget(c)
            + (_judged(c["feedback"]) if c["feedback"] else "")
        )
    return 0


def _budget(card: dict) -> str:
    """A calibrated detector's false alarms against its budget, and whether its normal days let
    it spend the budget at all."""
    budget = card.get("alarm_budget")
    if not budget:
        return ""
    spent = card["metrics"].get("false_alarms_per_1000")
    text = f"; alarm budget {budget['per_1000']:.3g} per 1,000 normal entity-days"
    if spent is not None and math.isfinite(spent):
        text += f", {spent:.3g} raised"
    if budget_is_a_ceiling(budget["per_1000"], budget["reachable_per_1000"]):
        text += f" (a ceiling: its normal days let it raise at most {budget['reachable_per_1000']:.3g})"
    return text


def _judged(feedback: dict) -> str:
    n = feedback["true_alarms"] + feedback["false_alarms"]
    return f"; judged findings: {feedback['true_alarms']} of {n} true alarms"


def cmd_promote(args, settings: Settings) -> int:
    from health_monitor.models.promotion import promote
    from health_monitor.registry import ModelRegistry

    if not (settings.mlflow_dir / "mlflow.db").exists():
        raise ConfigError(f"no MLflow store in {settings.home}; run `health-monitor train` first")
    registry = ModelRegistry.local(settings.mlflow_dir)  # no Spark, no plugins: the registry only
    done = promote(registry, settings.registered_model(args.model), args.version, args.reason, by=args.by)
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    replaced = f"v{done['replaced']}" if done["replaced"] is not None else "no champion"
    print(
        f"{done['model']}: champion is now v{done['version']} (was {replaced}); "
        f"by {done['by']} at {done['at']}: {done['reason']}"
    )
    print(f"next: health-monitor infer --model {args.model}")
    return 0


def cmd_explain(args, settings: Settings) -> int:
    from health_monitor.models.explain import explain_prediction
    from health_monitor.serving.scoring import Champions

    keys = {}
    for item in args.key:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise ConfigError(f"--key must look like COLUMN=VALUE, got {item!r}")
        keys[column] = value
    result = explain_prediction(Champions(_runtime(settings), _host()), args.model, keys, top_k=args.top)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    outputs = ", ".join(f"{k}={v}" for k, v in result["outputs"].items())
    print(f"{result['model']} v{result['model_version']} {result['keys']}: {outputs}")
    for c in result["contributions"]:
        print(f"  {c['feature']:<36} value={c['value']!s:<14} weight={c['weight']:+.4f}")
    return 0


def cmd_findings(args, settings: Settings) -> int:
    from health_monitor.reports.findings import finding_lines, ranked, read_findings, update_findings

    runtime, host = _runtime(settings), _host()
    domains = sorted({o.spec.domain for o in host.models.values()})
    if args.domain is not None and args.domain not in domains:
        raise ConfigError(f"--domain {args.domain!r}: unknown; domains with models: {', '.join(domains)}")
    report = update_findings(runtime, host, explain=not args.no_explain)
    chosen = ranked(read_findings(runtime), include_resolved=args.all, domain=args.domain, since=args.since)
    for model, error in sorted(report.errors.items()):
        print(f"warning: the finding rule of {model} failed: {error}", file=sys.stderr)
    if args.json:
        document = {
            "as_of": report.as_of.isoformat() if report.as_of else None,
            "days_judged": report.days,
            "opened": report.opened,
            "resolved": report.resolved,
            "findings": chosen,
            "errors": report.errors,
        }
        print(json.dumps(document, indent=2, default=str))
    else:
        state = "findings" if args.all else "open findings"
        print(
            f"{len(chosen)} {state} (latest predictions up to {report.as_of or 'none'}; "
            f"{len(report.opened)} new, {len(report.resolved)} resolved by this update)"
        )
        for line in finding_lines(chosen):
            print(line)
    return 1 if report.errors else 0


def cmd_labels(args, settings: Settings) -> int:
    from health_monitor.system.labels import import_labels, incident_types

    if args.labels_command == "types":
        types = incident_types(_host())
        if args.json:
            print(json.dumps([dataclasses.asdict(t) for t in types.values()], indent=2))
            return 0
        for t in types.values():
            print(f"{t.name:<34} {t.entity_kind:<10} {t.domain:<12} read by {', '.join(t.models)}")
        return 0
    from health_monitor.reports.feedback import import_feedback, is_feedback_file

    if is_feedback_file(args.file):
        judged = import_feedback(_runtime(settings), args.file, replace=args.replace)
        print(
            f"{judged.table}: imported {judged.imported} verdict(s) from {args.file} "
            f"({judged.true_alarms} true, {judged.false_alarms} false alarms; {judged.replaced} replaced)"
        )
        print("next: health-monitor evaluate shows each model's share of true alarms")
        return 0
    result = import_labels(_runtime(settings), _host(), args.file, replace=args.replace)
    print(
        f"{result.table}: imported {result.imported} incident(s) from {args.file} "
        f"({result.replaced} replaced by id, {result.kept} other rows kept)"
    )
    for name, n in result.by_type.items():
        print(f"  {name:<34} {n:>6}")
    print(
        f"next: health-monitor train --model MODEL for {', '.join(result.models)}; then health-monitor evaluate"
    )
    return 0


def cmd_alerts(args, settings: Settings) -> int:
    from health_monitor.reports.alerts import load_config, send_alerts

    config = load_config(args.config or settings.home / "alerts.yaml", args.min_severity)
    result = send_alerts(_runtime(settings), config, dry_run=args.dry_run)
    for line in result.lines():
        print(line)
    for line in result.failure_lines():
        print(line, file=sys.stderr)
    return result.exit_status


def cmd_model_cards(args, settings: Settings) -> int:
    from health_monitor.models.cards import write_cards

    runtime = _runtime(settings)
    runtime.registry.configure()
    written = write_cards(runtime, _host(), args.out, args.measured_on, args.incident_benchmark)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def cmd_report(args, settings: Settings) -> int:
    from tqdm.auto import tqdm

    from health_monitor.reports.findings import update_findings
    from health_monitor.reports.html import build_report, check_out, write_report

    out = check_out(args.out)  # before any work: a bad --out costs nothing
    runtime, host = _runtime(settings), _host()
    domains = sorted({o.spec.domain for o in host.models.values()})
    if args.domain is not None and args.domain not in domains:
        raise ConfigError(f"--domain {args.domain!r}: unknown; domains with models: {', '.join(domains)}")
    errors: dict[str, str] = {}
    if not args.no_update:
        errors = update_findings(runtime, host, explain=not args.no_explain).errors
    for model, error in sorted(errors.items()):
        print(f"warning: the finding rule of {model} failed: {error}", file=sys.stderr)
    selected = host.select_models(args.domain)
    with tqdm(total=len(selected), desc="report", unit="model", disable=None, leave=False) as bar:

        def tick(model: str) -> None:
            bar.update()

        report = build_report(runtime, host, domain=args.domain, progress=tick)
    written = write_report(report, out)
    sizes = report.bytes
    for path in written:
        print(f"  {path.name:<32} {sizes[path.name]:>10,} bytes  {report.plots[path.name]:>3} plots")
    print(
        f"wrote {len(written)} pages ({sum(sizes.values()):,} bytes) to {out} in {report.seconds:.1f}s; "
        f"open {out / 'index.html'}"
    )
    failed = [m.name for m in report.data.models if m.error]
    if failed:
        print(f"warning: could not read {', '.join(failed)} (see their sections)", file=sys.stderr)
    return 1 if errors or failed else 0


def cmd_dashboards(args, settings: Settings) -> int:
    from health_monitor.reports.lakeview import write_bundle_files

    host = _host()
    if host.problems:  # a plugin that failed to load would lose its dashboard: write nothing
        raise HealthMonitorError(
            f"{len(host.problems)} plugin problem(s) (above); fix them before writing the dashboards"
        )
    for path in write_bundle_files(host, args.out):
        print(path)
    return 0


def cmd_serve(args, settings: Settings) -> int:
    import gc

    from tqdm.auto import tqdm

    from health_monitor.serving.app import ScoringService, make_server
    from health_monitor.serving.httpd import allowed_hosts, check_loopback, load_token
    from health_monitor.serving.scoring import Champions

    # The arguments first, before the home and the plugins load (make_server checks the hosts
    # again when it binds).
    check_loopback(args.host)
    allowed_hosts(tuple(args.allow_host))
    token = load_token(args.token_file)
    service = ScoringService(Champions(_runtime(settings), _host()))
    # Listen first: a port in use is said at once, not after the models have warmed up (requests
    # that arrive meanwhile wait in the socket's queue).
    server = make_server(service, args.host, args.port, allow_hosts=tuple(args.allow_host), token=token)
    try:
        with tqdm(
            total=len(set(service.routes.values())), desc="warm", unit="model", disable=None, leave=False
        ) as bar:
            warmed = service.warm(progress=lambda model: bar.update())
        for model, status in warmed.items():
            print(f"  {model:<36} {status}")
        # Everything loaded so far lives as long as the server. A full garbage collection walks all
        # of it (up to 0.29 s measured on the medium home) and would stall requests: freeze it out.
        gc.collect()
        gc.freeze()
        host, port = str(server.server_address[0]), int(server.server_address[1])  # an AF_INET address
        if unavailable := [m for m, status in warmed.items() if status.startswith("unavailable:")]:
            print(f"{len(unavailable)} model(s) unavailable, their endpoints answer 503 (see GET /health)")
        if token is not None:
            print("every request must carry 'Authorization: Bearer <token>'")
        print(
            f"serving {len(service.routes)} endpoints on http://{host}:{port} (GET /openapi.json); Ctrl-C stops"
        )
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.shutdown()
    return 0


def cmd_plugins(args, settings: Settings) -> int:
    host = _host()
    # Each plugin with every name it owns: who answers for a model, table, label or tool.
    rows = [
        {
            "name": p.name,
            "domain": p.domain,
            "distribution": p.distribution,
            "version": p.version,
            **host.owned_by(p.name),
        }
        for p in host.plugins
    ]
    problems = [
        {
            "plugin": p.plugin.name,
            "distribution": p.plugin.distribution,
            "version": p.plugin.version,
            "phase": p.phase,
            "error": p.error,
        }
        for p in host.problems
    ]
    if args.json:
        print(json.dumps({"plugins": rows, "problems": problems}, indent=2))
    else:
        for r in rows:
            print(
                f"{r['name']:<12} {r['distribution'] or '-':<28} {r['version'] or '-':<8} {', '.join(r['models'])}"
            )
            for kind in ("feature_tables", "tools"):
                if r[kind]:
                    print(f"{'':<12} {kind.replace('_', ' ')}: {', '.join(r[kind])}")
    return 1 if problems else 0


def cmd_tools(args, settings: Settings) -> int:
    from health_monitor.agents import CORE_TOOLS

    host = _host()
    if args.domain is not None and args.domain not in host.domains:
        raise ConfigError(f"unknown domain {args.domain!r}; installed domains: {', '.join(host.domains)}")
    specs = [(o.spec, o.plugin.name) for _, o in sorted(host.tools.items())] + [
        (t, "core") for t in CORE_TOOLS
    ]
    rows = [
        {
            "name": spec.name,
            "toolkit": spec.domain,
            "plugin": plugin,
            "reads": list(spec.reads),
            "description": spec.description,
            "arguments": {
                n: {"required": f.is_required(), "description": f.description}
                for n, f in spec.args.model_fields.items()
            },
        }
        for spec, plugin in specs
        if args.domain is None or spec.domain in (args.domain, "all")
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        arguments = ", ".join(n + ("" if a["required"] else "?") for n, a in r["arguments"].items())
        print(f"{r['toolkit']:<12} {r['name']:<30} ({arguments})")
    return 0


def cmd_models(args, settings: Settings) -> int:
    host = _host()
    rows = []
    for name, owned in sorted(host.models.items()):
        spec = owned.spec
        rows.append(
            {
                "name": name,
                "domain": spec.domain,
                "problem_type": spec.problem_type.value,
                "feature_tables": sorted({settings.feature_table(lk.table) for lk in spec.lookups}),
                "keys": list(spec.keys),
                "features": list(spec.input_names),
                "context": list(spec.context),
                "outputs": [n for n, _ in spec.outputs],
                "baseline": spec.baseline_name,
                "prediction_table": settings.predictions(name),
                "registered_model": settings.registered_model(name),
                "plugin": owned.plugin.name,
                "description": spec.description,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['name']:<34} {r['domain']:<12} {r['problem_type']:<18} keys={','.join(r['keys'])}  "
                f"tables={','.join(t.rsplit('.', 1)[1] for t in r['feature_tables'])}"
            )
    return 0


def cmd_vacuum(args, settings: Settings) -> int:
    from health_monitor.pipelines.housekeeping import vacuum_home

    runtime = _runtime(settings)
    report = vacuum_home(
        runtime, dt.timedelta(days=args.retain_days), models=args.models, dry_run=args.dry_run
    )
    for line in report.lines():
        print(line)
    return 0


def cmd_tables(args, settings: Settings) -> int:
    runtime = _runtime(settings)
    schema = args.schema
    names = runtime.lakehouse.list_tables(settings.catalog, schema)
    names += runtime.lakehouse.list_tables(settings.source_catalog, schema)
    infos = [runtime.lakehouse.describe(n) for n in names]
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
    else:
        if not infos:
            print(f"no tables in {settings.lakehouse_dir}" + (f" schema {schema}" if schema else ""))
        for i in infos:
            print(f"{i.full_name:<64} {i.rows:>12,} rows {len(i.columns):>4} cols  {i.location}")
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "simulate": cmd_simulate,
    "gold": cmd_gold,
    "snapshot": cmd_snapshot,
    "load-system-tables": cmd_load_system_tables,
    "load-gold": cmd_load_gold,
    "features": _stage("run_features"),
    "train": _stage("run_train"),
    "infer": _stage("run_infer"),
    "evaluate": cmd_evaluate,
    "promote": cmd_promote,
    "explain": cmd_explain,
    "findings": cmd_findings,
    "labels": cmd_labels,
    "report": cmd_report,
    "alerts": cmd_alerts,
    "serve": cmd_serve,
    "dashboards": cmd_dashboards,
    "tools": cmd_tools,
    "model-cards": cmd_model_cards,
    "vacuum": cmd_vacuum,
    "run": cmd_run,
    "plugins": cmd_plugins,
    "models": cmd_models,
    "tables": cmd_tables,
    "recover": cmd_recover,
}


if __name__ == "__main__":
    sys.exit(main())
