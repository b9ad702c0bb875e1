"""Jobs the CLI and scheduled runs call: put Gold tables into a home, and the demo."""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from health_monitor.errors import ConfigError
from health_monitor.host import Host
from health_monitor.lakehouse.spark import release_memory, sized_for_a_day
from health_monitor.pipelines import StageReport, run_features, run_infer, run_train
from health_monitor.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class JobResult:
    """Timings (seconds) per step and the stage reports, for summaries and benchmarks."""

    timings: dict[str, float] = field(default_factory=dict)
    reports: list[StageReport] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        """``fn()``, its seconds added to ``timings[name]``; then the memory it left is given back."""
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
            release_memory()


def _progress(bar: tqdm) -> Callable[[str], None]:
    """A simulator progress callback that shows the step on ``bar`` and advances it."""

    def show(step: str) -> None:
        bar.set_postfix_str(step)
        bar.update()

    return show


def write_tables(
    runtime: Runtime, tables: dict[str, Any], full_name: Callable[[str], str], desc: str
) -> dict[str, int]:
    """Write Arrow tables one by one (each atomically); returns rows per full name."""
    return write_one_by_one(runtime, iter(sorted(tables.items())), len(tables), full_name, desc)


def write_one_by_one(
    runtime: Runtime,
    tables: Iterator[tuple[str, Any]],
    count: int,
    full_name: Callable[[str], str],
    desc: str,
) -> dict[str, int]:
    """Write the ``(name, table)`` pairs of ``tables`` as they come, each atomically, holding none
    after its write (the simulator builds each only when asked); returns rows per full name."""
    rows = {}
    with tqdm(total=count, desc=desc, unit="table", disable=None, leave=False) as bar:
        for name, table in tables:
            info = runtime.lakehouse.write(full_name(name), table)
            rows[info.full_name] = info.rows
            del table  # let it go before the next one is built
            bar.update()
    return rows


# Gold tables the system tables keep no history of: the simulator writes their past daily
# snapshots (as `health-monitor snapshot` would have, day after day); `gold` never rebuilds them.
SNAPSHOT_HISTORY = (
    "information_schema_tables_snapshot",
    "information_schema_columns_snapshot",
    "dim_workspace",
)


def simulate_into(
    runtime: Runtime,
    scale: str,
    seed: int,
    days: int | None,
    end_date: dt.date | None,
    incidents: int | None = None,
) -> dict[str, int]:
    """Generate a simulated account and write what a real one would have into the home: its
    system tables (``system.*``), the account file of commitments and job SLAs, the past daily
    snapshots of what the system tables keep no history of, and (apart) its ground truth.
    Build Gold from it with :func:`build_gold_into` (``health-monitor gold``)."""
    from health_monitor.simulate import SimulationConfig, simulate_account
    from health_monitor.simulate.system import account_inputs, system_tables_one_by_one

    kwargs: dict[str, Any] = {"scale": scale, "seed": seed, "days": days, "incidents": incidents}
    if end_date is not None:
        kwargs["end_date"] = end_date
    try:
        config = SimulationConfig(**kwargs)
    except ValueError as exc:  # a bad scale, seed or number of days: the caller's argument
        raise ConfigError(str(exc)) from None
    with tqdm(desc="simulate", unit="step", disable=None, leave=False) as bar:
        account = simulate_account(config, progress=_progress(bar))
    release_memory()  # what generating the account freed, before its tables are built
    # Built one by one as they are written (all at once, they would double the peak), letting
    # each large Gold table go after its last use (the snapshot history and inputs are not among them).
    system_names, system = system_tables_one_by_one(account.gold, seed, config, let_go=True)
    from health_monitor.gold.build.runner import STATE_TABLE, reset_state

    settings = runtime.settings
    history = {name: account.gold[name] for name in SNAPSHOT_HISTORY}
    names = [settings.system(n) for n in system_names] + [settings.gold(n) for n in sorted(history)]
    names += [settings.ground_truth(n) for n in sorted(account.ground_truth)] + [settings.ops(STATE_TABLE)]
    args = ["--scale", config.scale, "--seed", str(config.seed), "--days", str(config.n_days)]
    args += ["--end-date", config.end_date.isoformat()]
    args += ["--incidents", str(config.incidents)] if config.incidents is not None else []
    with runtime.load("simulate", names, *args):
        account_inputs(account.gold).write(settings.account_inputs_path)
        rows = write_one_by_one(runtime, system, len(system_names), settings.system, "write system tables")
        rows.update(write_tables(runtime, history, settings.gold, "write snapshot history"))
        rows.update(write_tables(runtime, account.ground_truth, settings.ground_truth, "write ground truth"))
        reset_state(runtime)  # a new account: the next `gold` rebuilds everything
        _write_simulation(settings, config)
    return rows


SIMULATION_FILE = "simulation.json"


def _write_simulation(settings, config) -> None:
    import json

    doc = {
        "scale": config.scale,
        "seed": config.seed,
        "days": config.n_days,
        "end_date": config.end_date.isoformat(),
        **({"incidents": config.incidents} if config.incidents is not None else {}),
    }
    path = settings.home / SIMULATION_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def advance_into(runtime: Runtime, days: int) -> dict[str, int]:
    """``simulate --advance N``: the home's simulated account lives ``days`` more days. Its system
    tables, snapshot history and ground truth gain the new days (see simulate/advance.py); run
    ``gold`` (incremental) and the pipelines afterwards, as the daily job would."""
    import json

    from health_monitor.simulate import SimulationConfig, simulate_account
    from health_monitor.simulate.advance import splice
    from health_monitor.simulate.system import system_tables_one_by_one

    settings = runtime.settings
    path = settings.home / SIMULATION_FILE
    if not path.exists():
        raise ConfigError(f"--advance: {settings.home} holds no simulated account ({path.name} is missing)")
    if days < 1:
        raise ConfigError(f"--advance: expected at least 1 day, got {days}")
    doc = json.loads(path.read_text())
    old_end = dt.date.fromisoformat(doc["end_date"])
    config = SimulationConfig(
        scale=doc["scale"],
        seed=doc["seed"],
        days=doc["days"] + days,
        end_date=old_end + dt.timedelta(days=days),
        incidents=doc.get("incidents"),
    )
    with tqdm(desc="simulate", unit="step", disable=None, leave=False) as bar:
        account = simulate_account(config, progress=_progress(bar))
    release_memory()
    system_names, system = system_tables_one_by_one(account.gold, config.seed, config, let_go=True)
    boundary = old_end + dt.timedelta(days=1)

    def spliced(tables: Iterator[tuple[str, Any]], full_name) -> Iterator[tuple[str, Any]]:
        for name, new in tables:
            if runtime.lakehouse.exists(full_name(name)):
                new = splice(runtime.lakehouse.read_arrow(full_name(name)), new, boundary)
            yield name, new
            del new  # before the next one is built

    history = {name: account.gold[name] for name in SNAPSHOT_HISTORY}
    names = [settings.system(n) for n in system_names] + [settings.gold(n) for n in sorted(history)]
    names += [settings.ground_truth(n) for n in sorted(account.ground_truth)]
    # Finished by running it again: simulation.json, written last, still holds the old end date,
    # and splicing the same new days onto a table that already has them changes nothing.
    with runtime.load("simulate", names, "--advance", str(days)):
        rows = write_one_by_one(
            runtime,
            spliced(system, settings.system),
            len(system_names),
            settings.system,
            "write system tables",
        )
        for tables, full_name, desc in (
            (history, settings.gold, "write snapshot history"),
            (account.ground_truth, settings.ground_truth, "write ground truth"),
        ):
            pairs = spliced(iter(sorted(tables.items())), full_name)
            rows.update(write_one_by_one(runtime, pairs, len(tables), full_name, desc))
        _write_simulation(settings, config)
    return rows


def build_gold_into(
    runtime: Runtime, full: bool = False, tables: list[str] | None = None, host: Host | None = None
):
    """``health-monitor gold``: build (or update) the Gold tables from the system tables: ``tables``,
    else those ``host``'s plugins read (:attr:`Host.gold_tables`; the others are listed in the
    report's ``unread``), else every one."""
    from health_monitor.gold.build import gold_steps
    from health_monitor.gold.build.runner import STATE_TABLE, build_gold

    settings = runtime.settings
    buildable = [t for t, s in gold_steps().items() if not s.snapshot]
    unread: list[str] = []
    if tables is None and host is not None and (read := host.gold_tables) is not None:
        tables, unread = read, [t for t in buildable if t not in read]
    # The tables the build may replace, then its state (written after each table it describes).
    steps = [t for t in buildable if not tables or t in tables]
    names = [settings.gold(t) for t in steps] + [settings.ops(STATE_TABLE)]
    args = (["--full"] if full else []) + [w for t in tables or [] for w in ("--table", t)]
    with runtime.load("gold", names, *args):
        report = build_gold(runtime, full=full, tables=tables)
    report.unread = unread
    return report


def load_gold_into(runtime: Runtime, source: Path, policies: dict[str, str] | None = None) -> dict[str, int]:
    """Load a user's own Gold export; every table is checked before any is written, and the value
    rules of :mod:`health_monitor.system.sanity` leave absurd rows out (or refuse the load)."""
    from health_monitor.gold.contract import GOLD_TABLES
    from health_monitor.gold.loader import read_gold_export
    from health_monitor.system import sanity

    tables = read_gold_export(source)  # raises GoldContractError naming table and column; writes nothing
    screened = sanity.screen(tables, runtime.settings.gold, policies=policies)  # SanityError: nothing written
    sanity.warn_counts(screened)
    names = [runtime.settings.gold(name) for name in sorted(screened.tables)]
    stale = [
        t
        for t in runtime.lakehouse.list_tables(runtime.settings.catalog, runtime.settings.schemas.gold)
        if t not in names and t.rsplit(".", 1)[1] in GOLD_TABLES
    ]
    if stale:
        warnings.warn(
            f"the home keeps Gold tables this export does not replace: {', '.join(stale)}",
            UserWarning,
            stacklevel=2,
        )
    names += sanity.quarantine_tables(runtime, screened)
    with runtime.load("load-gold", names, str(Path(source).resolve())):
        rows = write_tables(runtime, screened.tables, runtime.settings.gold, "write gold")
        sanity.write_quarantine(runtime, screened)
    return rows


def run_pipelines(
    runtime: Runtime,
    host: Host,
    domain: str | None = None,
    model: str | None = None,
    result: JobResult | None = None,
) -> JobResult:
    """features, train and infer for the selected models. A model that training skipped (a young
    account: no labelled rows yet) and that has no champion from before is skipped by infer too,
    with training's reason."""
    job = result or JobResult()  # (a name the lambdas below see as not None)
    job.reports.append(job.timed("features", lambda: run_features(runtime, host, domain=domain, model=model)))
    job.reports.append(job.timed("train", lambda: run_train(runtime, host, domain=domain, model=model)))
    skip = _untrained(runtime, job)
    job.reports.append(
        job.timed("infer", lambda: run_infer(runtime, host, domain=domain, model=model, skip=skip))
    )
    return job


def _untrained(runtime: Runtime, result: JobResult) -> dict[str, str]:
    """The models whose training ``result`` skipped and that have no champion, each with why."""
    s = runtime.settings
    return {
        item.item: f"not trained: {item.details['skipped']}"
        for report in result.reports
        if report.stage == "train"
        for item in report.skipped
        if runtime.registry.version_by_alias(s.registered_model(item.item)) is None
    }


def run_demo(
    runtime: Runtime,
    host: Host,
    scale: str = "small",
    seed: int = 7,
    days: int | None = None,
    end_date: dt.date | None = None,
    incidents: int | None = None,
) -> JobResult:
    """The main job. A home with neither system tables nor Gold gets a simulated account; system
    tables are then built into Gold (incrementally: only what changed); then the pipelines."""
    result = JobResult()
    if not runtime.has_system_tables() and not runtime.has_gold():
        result.details["simulated"] = result.timed(
            "simulate", lambda: simulate_into(runtime, scale, seed, days, end_date, incidents)
        )
    if runtime.has_system_tables():
        result.details["gold"] = result.timed("gold", lambda: build_gold_into(runtime, host=host))
    return run_pipelines(runtime, host, result=result)


@dataclass(frozen=True)
class DailySettings:
    """What the scheduled daily run (``health-monitor run``) does besides refreshing the days that
    changed: retrain a model whose newest version is older than ``train_every_days`` (0: every
    run; None: never, only models with no version yet), or whose champion's output drifted since
    its training past ``retrain_drift`` (a population stability index,
    :mod:`health_monitor.models.drift`; None: no drift check), and vacuum files older than
    ``retain_days`` (None: no vacuum)."""

    train_every_days: float | None = 7.0
    retrain_drift: float | None = None
    retain_days: float | None = 7.0
    snapshot: bool = True


def run_daily(runtime: Runtime, host: Host, settings: DailySettings | None = None) -> JobResult:
    """The scheduled job. ``snapshot`` and ``gold`` take in the new data; then each feature table
    is recomputed from the earliest day its Gold changed (rows before it are kept), models due by
    the schedule are retrained, each prediction table is rescored from the earliest day its
    features changed, the findings are updated, and old files are vacuumed. The tables equal a full recompute's
    (tests/test_daily.py); see :mod:`health_monitor.pipelines.refresh` for the rules."""
    from health_monitor.pipelines import refresh

    settings = settings or DailySettings()
    result = JobResult()
    runtime.refuse_if_half_loaded()
    simulated = (runtime.settings.home / SIMULATION_FILE).exists()

    if runtime.has_system_tables():
        # A simulated account's snapshots are written by `simulate --advance`, dated in its past.
        if settings.snapshot and not simulated:
            from health_monitor.gold.snapshot import take_snapshot

            result.details["snapshot"] = result.timed("snapshot", lambda: take_snapshot(runtime))
        result.details["gold"] = result.timed("gold", lambda: build_gold_into(runtime, host=host))

    s = runtime.settings
    feature_plan: dict[str, Any] = {}
    for owned in host.feature_tables.values():
        table = owned.spec
        name = s.feature_table(table.name)
        days_by = table.days_by
        day = refresh.latest_day(runtime, name, days_by) if days_by else (lambda: None)
        since = refresh.changed_since(runtime, name, day)
        if since is not None:  # None in the plan: the whole table (FULL, or no days to replace)
            late = dt.timedelta(days=table.late_days)
            feature_plan[table.name] = since - late if isinstance(since, dt.date) and days_by else None
    result.details["feature_plan"] = feature_plan
    with sized_for_a_day() as workers:  # a day's rows, not the history's (training keeps the session's)
        result.reports.append(
            result.timed("features", lambda: run_features(runtime, host, plan=feature_plan, workers=workers))
        )

    due = _due_for_training(runtime, host, settings.train_every_days, settings.retrain_drift)
    result.details["trained"] = due  # model -> why, in name order
    if due:
        report = result.timed("train", lambda: run_train(runtime, host, names=set(due)))
        result.reports.append(report)

    failed_tables = {item.item for r in result.reports if r.stage == "features" for item in r.failed}
    model_plan: dict[str, Any] = {}
    for model in host.models.values():
        spec = model.spec
        if any(lk.table in failed_tables for lk in spec.lookups):
            continue  # its features are stale: the next run scores it (its state is unchanged)
        predictions = s.predictions(spec.name)
        champion = runtime.registry.version_by_alias(s.registered_model(spec.name))
        if champion is None:  # nothing to score: `evaluate` says why, `promote` makes one
            result.details.setdefault("no_champion", []).append(spec.name)
            continue
        current = {s.registered_model(spec.name): champion.version}
        since = refresh.changed_since(
            runtime, predictions, refresh.latest_day(runtime, predictions, spec.time_column), current=current
        )
        if since is not None:  # None in the plan: every key (FULL, or keys whose time may move)
            late = dt.timedelta(days=spec.late_days)
            model_plan[spec.name] = (
                since - late if isinstance(since, dt.date) and spec.scores_by_day else None
            )
    result.details["model_plan"] = model_plan
    with sized_for_a_day() as workers:
        result.reports.append(
            result.timed("infer", lambda: run_infer(runtime, host, plan=model_plan, workers=workers))
        )

    from health_monitor.reports.findings import update_findings

    # What needs attention today, with states kept across runs (`health-monitor alerts` sends
    # the new ones). A storage error here is the run's failure; a rule's error is in the report.
    result.details["findings"] = result.timed("findings", lambda: update_findings(runtime, host))

    if settings.retain_days is not None:
        from health_monitor.pipelines.housekeeping import vacuum_home

        retain = dt.timedelta(days=settings.retain_days)
        result.details["vacuum"] = result.timed("vacuum", lambda: vacuum_home(runtime, retain))
    return result


def _now_ms() -> float:
    """The clock the training schedule reads (tests move it)."""
    return time.time() * 1000


def _due_for_training(
    runtime: Runtime, host: Host, every_days: float | None, drift_psi: float | None = None
) -> dict[str, str]:
    """The models due for training, each with why: no registered version; with a schedule, a
    newest version older than ``every_days``; with ``drift_psi``, a champion whose output moved
    past that PSI since its training (its prediction table read without Spark). The drift check
    skips a model whose newest version is younger than the drift's recent window
    (``RECENT_DAYS``): that version was trained on the days the drift is measured on, and
    training it again each day would give the same (or, held back by the champion gate, the same
    challenger). A model whose drift cannot be measured is not retrained for it; the log says why.
    The output, not the inputs: many inputs grow with time by construction (all-time counts, an
    entity's age, days to the month's end), so their PSI against the training window keeps rising
    whatever the model makes of them (at the seed scale, a PSI of 0.25 flags several times more
    models on an input than on their output: the figures are in docs/scale.md)."""
    from health_monitor.models.drift import RECENT_DAYS, champion_drift

    runtime.registry.configure()
    now_ms = _now_ms()
    due: dict[str, str] = {}
    for name in sorted(host.models):
        versions = runtime.registry.versions(runtime.settings.registered_model(name))
        if not versions:
            due[name] = "it has no version yet"
            continue
        age = (now_ms - max(v.created_ms or 0 for v in versions)) / 86_400_000
        if every_days is not None and age >= every_days:
            due[name] = f"its newest version is {age:.1f} days old (the schedule: every {every_days:g} days)"
        elif drift_psi is not None and age >= RECENT_DAYS:
            try:
                psi = champion_drift(runtime, host.models[name].spec, inputs=False).prediction_psi
            except Exception as exc:  # one model's drift must not stop the day's run
                log.warning("drift of %s not measured, so not retrained for it: %s", name, exc)
                continue
            if psi is not None and psi > drift_psi:
                due[name] = f"its output moved by PSI {psi:.2f} since training (over {drift_psi:g})"
    return due
