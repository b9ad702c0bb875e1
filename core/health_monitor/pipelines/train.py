"""Training pipeline: base rows + labels -> feature lookups -> time split -> fit, evaluate against
the baseline, log to MLflow, register, and move the ``champion`` alias only if not worse."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.base import clone

import health_monitor
from health_monitor.config import Settings
from health_monitor.deadline import checkpoint, current
from health_monitor.errors import HealthMonitorError, MissingInputError, SchemaError, SkipItem
from health_monitor.featurestore import FeatureLookup
from health_monitor.featurestore.pyfunc import load_packed_model
from health_monitor.host import Host
from health_monitor.lakehouse.spark import cancel_jobs_with_item, release_memory
from health_monitor.models import evaluation, verdicts
from health_monitor.models.modeling import ScoringModel
from health_monitor.pipelines.report import StageReport, run_items
from health_monitor.plugins import PluginInfo
from health_monitor.registry import CHALLENGER, CHAMPION, run_owner_tags
from health_monitor.runtime import Runtime
from health_monitor.sdk.detectors import CalibratedDetector, budget_is_a_ceiling
from health_monitor.sdk.specs import Model, ProblemType, Tables
from health_monitor.untrusted import learnable_rows

LABEL = "__label__"
log = logging.getLogger(__name__)


def run_train(
    runtime: Runtime,
    host: Host,
    domain: str | None = None,
    model: str | None = None,
    progress: bool = True,
    names: set[str] | None = None,
) -> StageReport:
    """Train the selected models (``names``: only these, for the daily run's schedule)."""
    runtime.refuse_if_half_loaded()  # labels are read from Gold: two loads at once mislead
    runtime.registry.configure()
    # Runs a killed process left RUNNING would stay so for ever: close them as failed first.
    for run_id, reason in runtime.registry.close_abandoned_runs(runtime.settings.item_time_limit):
        log.warning("closed MLflow run %s as FAILED: %s", run_id, reason)
    selected = [o for o in host.select_models(domain, model) if names is None or o.spec.name in names]
    plugins = {o.spec.name: o.plugin for o in selected}

    def train(spec: Model) -> dict[str, Any]:
        try:
            return train_model(runtime, host, spec, plugins[spec.name])
        finally:  # its training set and fits, before the next model's (at the seed scale, gigabytes)
            release_memory()

    return run_items(
        "train",
        selected,
        lambda m: m.name,
        train,
        host,
        runtime.settings,
        progress,
        time_limit=runtime.settings.item_time_limit,
    )


def feature_lookups(runtime: Runtime, spec: Model) -> list[FeatureLookup]:
    return [
        FeatureLookup(
            table_name=runtime.settings.feature_table(lk.table),
            lookup_key=list(lk.lookup_key),
            feature_names=list(lk.features),
            rename_outputs=dict(lk.rename) or None,
            timestamp_lookup_key=lk.timestamp_lookup_key,
        )
        for lk in spec.lookups
    ]


def base_columns(spec: Model) -> list[str]:
    """The columns scoring needs: keys, the time column and every lookup's keys."""
    return list(spec.base_columns)


def require_feature_tables(runtime: Runtime, spec: Model) -> None:
    """Skip (not fail) a model whose feature tables were not computed, e.g. for want of Gold."""
    missing = [
        runtime.settings.feature_table(lk.table)
        for lk in spec.lookups
        if not runtime.lakehouse.exists(runtime.settings.feature_table(lk.table))
    ]
    if missing:
        raise MissingInputError(", ".join(missing), "not computed (see `health-monitor features`)")


def model_base(runtime: Runtime, spec: Model, tables: Tables | None = None):
    """``spec.base`` read through ``tables`` (default: the runtime's), with the columns it needs.
    Models whose ``base`` builds the same frame (a plugin's job-days, say) compute it once a stage."""
    require_feature_tables(runtime, spec)
    tables = tables or runtime.tables
    base = tables.shared(spec.base(tables))
    needed = base_columns(spec)
    missing = [c for c in needed if c not in base.columns]
    if missing:
        raise SchemaError(f"model {spec.name}: base() has no column(s) {missing}; it has {base.columns}")
    return base.select(*needed)


def training_frame(runtime: Runtime, host: Host, spec: Model):
    """The model's rows as training reads them: base rows, labels (column :data:`LABEL`, None for
    a detector without labels) and looked-up features; returns (training set, frame, label)."""
    base = model_base(runtime, spec)
    supervised = spec.problem_type is not ProblemType.ANOMALY_DETECTION
    owned = host.labels.get(spec.name)
    labels = owned.spec.compute(runtime.tables) if owned else None
    if owned is None or labels is None:
        if supervised:
            raise SchemaError(
                f"model {spec.name} is {spec.problem_type.value} but has no labels; register_labels must give them"
            )
        df, label = base, None
    else:
        column = owned.spec.column
        missing = [c for c in [*spec.keys, column] if c not in labels.columns]
        if missing:
            raise SchemaError(f"labels of {spec.name} have no column(s) {missing}")
        kind = "string" if spec.problem_type is ProblemType.MULTICLASS else "double"
        labels = labels.select(*spec.keys, labels[column].cast(kind).alias(LABEL))
        df, label = base.join(labels, on=list(spec.keys), how="inner" if supervised else "left"), LABEL
    limit = runtime.settings.max_training_rows

    def read(rows):
        training_set = runtime.feature_store.create_training_set(
            df=rows, feature_lookups=feature_lookups(runtime, spec), label=label
        )
        return training_set, training_set.load_df().toPandas()

    # The base is kept for the stage (model_base), and labels hold one row per key, so its rows
    # bound the training set's: counting them, not the join with the labels, spares computing the
    # labels once more for a count. Over the limit, the join is counted and sampled.
    base_rows = None
    if base.count() > limit:
        df, base_rows = _at_most(df, list(spec.keys), limit)
    training_set, frame = read(df)
    if base_rows is None and len(frame) > limit:  # labels that repeat a key: count the join itself
        df, base_rows = _at_most(df, list(spec.keys), limit)
        training_set, frame = read(df)
    if label is not None and supervised:
        frame = frame[frame[label].notna()].reset_index(drop=True)
    if frame.empty:
        raise _nothing_to_learn(spec, base, labels)
    if base_rows is not None:
        frame.attrs[SAMPLED_FROM] = base_rows
    return training_set, frame, label


def _nothing_to_learn(spec: Model, base, labels) -> HealthMonitorError:
    """Why ``spec``'s training set is empty. A young account is a skip (no base rows yet, or none
    with a known outcome: a label is what happened after its row); base rows and labels that
    share no key are the plugin's bug, a failure."""
    from pyspark.sql import functions as F

    rows = base.count()
    if rows == 0:
        return SkipItem(f"model {spec.name}: nothing to train on yet: its base has no rows in Gold")
    known = 0 if labels is None else labels.where(F.col(LABEL).isNotNull()).count()
    if known == 0:
        return SkipItem(
            f"model {spec.name}: nothing to train on yet: none of its {rows:,} base rows has a label "
            "(an outcome after the row, which a longer history will hold)"
        )
    return SchemaError(
        f"model {spec.name}: the training set is empty: its {rows:,} base rows and {known:,} labels "
        f"share no key {list(spec.keys)}"
    )


SAMPLED_FROM = "sampled_from"  # frame.attrs: the base rows a training frame was sampled from


def _at_most(df, keys: list[str], limit: int):
    """``df`` if it has at most ``limit`` rows, else about ``limit`` of them picked by a hash of
    their ``keys`` (the same rows every time; a time split of them stays a time split); returns
    (the frame, the row count it was sampled from or None). The training set is fitted on the
    driver: this bounds it."""
    from pyspark.sql import functions as F

    rows = df.count()
    if rows <= limit:
        return df, None
    share = limit / rows
    point = (F.xxhash64(*[F.col(k).cast("string") for k in keys]) % 1_000_000 + 1_000_000) % 1_000_000
    return df.where(point < F.lit(int(share * 1_000_000))), rows


def requirements(plugin: PluginInfo) -> list[str]:
    reqs = [f"health-monitor=={health_monitor.__version__}"]
    if plugin.distribution:
        reqs.append(f"{plugin.distribution}=={plugin.version}")
    for dist in ("mlflow", "scikit-learn", "xgboost", "pandas", "numpy", "pyarrow"):
        with contextlib.suppress(md.PackageNotFoundError):
            reqs.append(f"{dist}=={md.version(dist)}")
    return reqs


def with_settings(estimator: Any, settings: Settings) -> Any:
    """``estimator`` with the settings that reach training: ``alarm_budget`` (alarms per entity
    per 30 days) on it and on any estimator nested in it that has that parameter, when the setting
    is given. Plugins declare estimators without knowing the home; unset, each keeps its own."""
    if settings.alarm_budget is None:  # not set: each detector keeps the budget its spec declares
        return estimator
    try:
        params = estimator.get_params(deep=True)
    except AttributeError:
        return estimator
    names = [k for k in params if k == "alarm_budget" or k.endswith("__alarm_budget")]
    return estimator.set_params(**dict.fromkeys(names, settings.alarm_budget)) if names else estimator


def _params(estimator: Any, prefix: str) -> dict[str, str]:
    try:
        params = estimator.get_params(deep=False)
    except AttributeError:
        return {}
    return {f"{prefix}.{k}": repr(v)[:500] for k, v in params.items()}


def train_model(runtime: Runtime, host: Host, spec: Model, plugin: PluginInfo) -> dict[str, Any]:
    settings, registry = runtime.settings, runtime.registry
    cancel_jobs_with_item()
    training_set, frame, label = training_frame(runtime, host, spec)
    split = evaluation.time_split(frame, spec.time_column, spec.test_fraction)
    train, warnings = learnable_rows(spec, split.train, label)
    if SAMPLED_FROM in frame.attrs:
        warnings = [
            f"trained and evaluated on {len(frame):,} of {frame.attrs[SAMPLED_FROM]:,} base rows, picked by "
            f"a hash of their keys (max training rows {settings.max_training_rows:,})",
            *warnings,
        ]
    features = list(spec.feature_names)
    inputs = list(spec.input_names)
    X_train, X_test = train[features], split.test[features]
    y_train = train[label] if label else None
    y_test = split.test[label] if label else None
    if y_train is not None and y_train.nunique() < 2 and spec.problem_type is ProblemType.CLASSIFICATION:
        raise SchemaError(
            f"model {spec.name}: the training rows have one class only ({y_train.unique().tolist()})"
        )

    # Detectors get the training labels too: a calibrated one leaves known incidents out.
    y_fit = y_train
    times = train[spec.time_column]
    model = ScoringModel.fit(
        with_settings(clone(spec.estimator()), settings),
        spec.problem_type,
        X_train,
        y_fit,
        inputs=inputs,
        times=times,
        enrich=spec.enrich,
        outputs=spec.outputs,
    )
    # The baseline sees every looked-up column: its rule may read a context feature.
    baseline = ScoringModel.fit(
        with_settings(spec.baseline(), settings), spec.problem_type, X_train, y_fit, times=times
    )
    entity = [k for k in spec.entity_columns if k != spec.time_column]  # none: one row per time
    covered = evaluation.entity_coverage(train, split.test, entity)
    seen = None if covered is None else covered[1]
    entities = evaluation.entity_key(split.test, entity) if entity and len(split.test) else None
    test = Evaluated(spec, X_test, y_test, split.test[spec.time_column], seen=seen, entities=entities)
    predicted, baseline_predicted = test.predict(model), test.predict(baseline)
    metrics, baseline_metrics = test.score(predicted), test.score(baseline_predicted)
    coverage = {} if covered is None else covered[0].metrics()
    if covered is not None and covered[0].unseen_rows and test.y is not None:
        # The same metrics on the rows of entities training knew: the metric without cold starts.
        for prefix, frame in (("test", predicted), ("baseline", baseline_predicted)):
            coverage |= {
                f"{prefix}_{k}_seen_entities": v for k, v in test.score(frame, seen_only=True).items()
            }
    cold_start = None if covered is None else covered[0].warning()
    budget, budget_warnings = alarm_budget(model.estimator)
    warnings = [*warnings, *([cold_start] if cold_start else []), *budget_warnings]
    comparison = test.compare(predicted, baseline_predicted)
    verdict = verdicts.verdict(comparison)
    headline, _ = evaluation.HEADLINE[spec.problem_type]

    name = settings.registered_model(spec.name)
    checkpoint(f"log {spec.name}")  # a fit that returns after the time limit logs nothing
    registry.experiment(f"/health-monitor/{spec.domain}")
    with mlflow.start_run(run_name=spec.name, tags=run_owner_tags()) as run:
        _close_when_stopped(registry, run.info.run_id)
        mlflow.set_tags(
            {
                "model": spec.name,
                "domain": spec.domain,
                "problem_type": spec.problem_type.value,
                "plugin": plugin.name,
                "plugin.distribution": plugin.distribution or "",
                "plugin.version": plugin.version or "",
                "baseline": spec.baseline_name,
                "verdict": verdict,
                "verdict_reason": verdicts.describe(comparison),
            }
        )
        mlflow.log_params(
            {
                **_params(model.estimator, "model"),
                **_params(baseline.estimator, "baseline"),
                "train_rows": len(train),
                "test_rows": len(split.test),
                "split_cutoff": str(split.cutoff),
                "features": ",".join(inputs)[:5000],
                "context": ",".join(spec.context)[:5000],
                **_bootstrap_params(comparison),
            }
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({f"baseline_{k}": v for k, v in baseline_metrics.items() if np.isfinite(v)})
        mlflow.log_metrics(_interval_metrics(comparison, "test", "baseline", "difference"))
        mlflow.log_metrics({k: v for k, v in coverage.items() if np.isfinite(v)})
        mlflow.log_metrics(budget)
        info = runtime.feature_store.log_model(
            model=model,
            artifact_path="model",
            flavor=mlflow.pyfunc,
            training_set=training_set,
            registered_model_name=name,
            output_columns=model.output_columns,
            pip_requirements=requirements(plugin),
            metadata={"model": spec.name, "domain": spec.domain, "problem_type": spec.problem_type.value},
        )
        version = int(info.registered_model_version)
        alias, reason, versus = _promote(runtime, spec, name, version, comparison, predicted, test)
        mlflow.set_tag("alias", alias)
        mlflow.set_tag("alias_reason", reason)
        if versus is not None:
            mlflow.log_metrics(_interval_metrics(versus, None, None, "champion_difference"))
        checkpoint(f"finish the run of {spec.name}")  # else the run would end FINISHED
    return {
        "version": version,
        "alias": alias,
        "alias_reason": reason,
        "run_id": run.info.run_id,
        "headline": headline,
        "metrics": metrics,
        "baseline": spec.baseline_name,
        "baseline_metrics": baseline_metrics,
        "verdict": verdict,
        "verdict_reason": verdicts.describe(comparison),
        **_intervals(comparison),
        "train_rows": len(train),
        "test_rows": len(split.test),
        "split_cutoff": str(split.cutoff.date()),
        "coverage": coverage,
        **({"alarm_budget": budget} if budget else {}),
        **({"warnings": warnings} if warnings else {}),
    }


def alarm_budget(estimator: Any) -> tuple[dict[str, float], list[str]]:
    """A calibrated detector's alarm budget and the most it can spend on days like its held-out
    normal rows, both per 1,000 entity-days (the run's metrics), and a warning when the budget
    cannot be spent; no metrics and no warning for any other estimator."""
    if not isinstance(estimator, CalibratedDetector):
        return {}, []
    per_1000, reachable = 1000 * estimator.rate_, 1000 * estimator.reachable_rate_
    warnings = []
    if budget_is_a_ceiling(per_1000, reachable):
        tied = 100 * (1 - estimator.reachable_rate_)
        warnings.append(
            f"the alarm budget ({per_1000:.3g} false alarms per 1,000 normal entity-days) cannot be "
            f"spent: {tied:.1f}% of the held-out normal rows tie at the least unusual score, so on "
            f"days like them the detector raises at most {reachable:.1f} per 1,000"
        )
    return {"alarm_budget_per_1000": per_1000, "alarms_reachable_per_1000": reachable}, warnings


def _close_when_stopped(registry, run_id: str) -> None:
    """If this item is stopped at its time limit, its run ends FAILED at once, not RUNNING."""
    token = current()
    if token is not None:
        token.on_cancel(lambda: registry.client().set_terminated(run_id, "FAILED"))


class Evaluated:
    """The labelled test rows of one model, on which every candidate is predicted and compared."""

    def __init__(
        self,
        spec: Model,
        X: pd.DataFrame,
        y: pd.Series | None,
        times: pd.Series,
        seen: np.ndarray | None = None,
        entities: pd.Series | None = None,
    ):
        """``seen``: per row of ``X``, whether its entity has a training row
        (:func:`evaluation.entity_coverage`); ``entities``: its entity's key
        (:func:`evaluation.entity_key`), for incident windows; both None when the model has no
        entity columns."""
        self.spec = spec
        self.X, self.y, self.times, self.seen, self.entities = X, None, times, seen, entities
        if y is not None and not y.isna().all():  # else: not evaluated
            known = y.notna().to_numpy()
            self.X, self.y, self.times = X[known], y[known], times[known]
            self.seen = None if seen is None else seen[known]
            self.entities = None if entities is None else entities[known]

    def predict(self, fitted: ScoringModel) -> pd.DataFrame:
        return fitted.predict(self.X)

    def score(self, predicted: pd.DataFrame, seen_only: bool = False) -> dict[str, float]:
        """Metrics of ``predicted`` (rows of ``X``); with ``seen_only``, on the rows whose entity
        has a training row only ({} when there are none)."""
        if self.y is None:
            return {}
        kind = self.spec.problem_type
        if not seen_only or self.seen is None:
            return evaluation.score(kind, self.y, predicted, self.times, self.entities)
        if not self.seen.any():
            return {}
        seen = self.seen
        entities = None if self.entities is None else self.entities[seen]
        return evaluation.score(kind, self.y[seen], predicted[seen], self.times[seen], entities)

    def compare(self, candidate: pd.DataFrame, reference: pd.DataFrame) -> verdicts.Comparison | None:
        """Paired bootstrap of ``candidate`` against ``reference``; None without labels."""
        if self.y is None:
            return None
        return verdicts.paired_bootstrap(self.spec.problem_type, self.y, candidate, reference, self.times)


def _intervals(comparison: verdicts.Comparison | None) -> dict[str, Any]:
    """The headline figures and their 95% intervals, as the run's details report them."""
    if comparison is None:
        return {"model_ci95": None, "baseline_ci95": None, "difference": None, "difference_ci95": None}
    c = comparison
    return {
        "model_ci95": list(c.candidate_ci95) if c.candidate_ci95 else None,
        "baseline_ci95": list(c.reference_ci95) if c.reference_ci95 else None,
        "difference": c.difference,
        "difference_ci95": list(c.difference_ci95) if c.difference_ci95 else None,
        "bootstrap": {"unit": c.unit, "units": c.units, "resamples": c.resamples, "valid": c.valid_resamples},
        **(
            {
                "secondary": {
                    o.metric: {"difference": o.difference, "difference_ci95": list(o.difference_ci95)}
                    for o in c.secondary
                }
            }
            if c.secondary
            else {}
        ),
    }


def _interval_metrics(
    comparison: verdicts.Comparison | None, candidate: str | None, reference: str | None, difference: str
) -> dict[str, float]:
    """MLflow metrics of a comparison's intervals: ``<candidate>_<metric>_ci95_low`` ...,
    ``<difference>`` and ``<difference>_ci95_low/high``."""
    if comparison is None:
        return {}
    c, out = comparison, {}
    if np.isfinite(c.difference):
        out[difference] = c.difference
    for prefix, ci in ((candidate, c.candidate_ci95), (reference, c.reference_ci95)):
        if prefix and ci:
            out[f"{prefix}_{c.metric}_ci95_low"], out[f"{prefix}_{c.metric}_ci95_high"] = ci
    if c.difference_ci95:
        out[f"{difference}_ci95_low"], out[f"{difference}_ci95_high"] = c.difference_ci95
    for other in c.secondary:  # difference_mae, difference_mae_ci95_low, ...
        name = f"{difference}_{other.metric}"
        out[name] = other.difference
        out[f"{name}_ci95_low"], out[f"{name}_ci95_high"] = other.difference_ci95
    return out


def _bootstrap_params(comparison: verdicts.Comparison | None) -> dict[str, Any]:
    if comparison is None:
        return {}
    return {
        "bootstrap_unit": comparison.unit,
        "bootstrap_units": comparison.units,
        "bootstrap_resamples": comparison.resamples,
        "bootstrap_valid_resamples": comparison.valid_resamples,
    }


def _by_hand(spec: Model, version: int) -> str:
    return f"promote by hand: health-monitor promote --model {spec.name} --version {version} --reason TEXT"


def _promote(
    runtime: Runtime,
    spec: Model,
    name: str,
    version: int,
    comparison: verdicts.Comparison | None,
    predicted: pd.DataFrame,
    test: Evaluated,
) -> tuple[str, str, verdicts.Comparison | None]:
    """The champion gate; it fails closed. Returns (alias, reason, comparison with the champion).

    A new version becomes ``champion`` unless (a) it does not beat its baseline outside the
    noise (the difference's 95% interval is entirely below zero), or (b) the current champion is
    better on the same test rows outside the noise, or (c) the current champion cannot be scored
    on those rows, so the two cannot be compared. Then it becomes ``challenger`` and the reason
    says why and how to promote it by hand. A first version is held back by (a) only: a ``tie``
    or ``not evaluated`` first version (an anomaly detector without labels) becomes champion.
    Without labels, or when the comparison with the champion has no interval, the newest wins.
    """
    registry = runtime.registry
    held: list[str] = []
    if verdicts.verdict(comparison) == verdicts.LOSES:
        held.append(f"it does not beat its baseline outside the noise ({verdicts.describe(comparison)})")
    current = registry.version_by_alias(name, CHAMPION)
    versus = None
    if current is None:
        if held:
            registry.set_alias(name, CHALLENGER, version)
            return CHALLENGER, f"no champion yet, and {held[0]}; {_by_hand(spec, version)}", None
        registry.set_alias(name, CHAMPION, version)
        return CHAMPION, f"first version ({verdicts.verdict(comparison)})", None
    try:
        old = load_packed_model(current.uri).model
        old_predicted = test.predict(old)
    except Exception as exc:  # fail closed: what cannot be compared does not replace the champion
        registry.set_alias(name, CHALLENGER, version)
        return (
            CHALLENGER,
            f"champion v{current.version} could not be scored on the same test rows "
            f"({type(exc).__name__}: {str(exc)[:200]}), so the two cannot be compared; {_by_hand(spec, version)}",
            None,
        )
    versus = test.compare(predicted, old_predicted)
    if versus is not None and versus.outcome == -1:
        held.append(
            f"champion v{current.version} is better on the same test rows outside the noise "
            f"({verdicts.describe(versus)})"
        )
    if held:
        registry.set_alias(name, CHALLENGER, version)
        return CHALLENGER, "; ".join(held) + f"; {_by_hand(spec, version)}", versus
    registry.set_alias(name, CHAMPION, version)
    if versus is None:
        return CHAMPION, f"no labels to compare with v{current.version}; newest wins", versus
    if versus.difference_ci95 is None:
        return CHAMPION, f"no interval against v{current.version} ({versus.reason}); newest wins", versus
    return (
        CHAMPION,
        f"not worse than v{current.version} outside the noise ({verdicts.describe(versus)})",
        versus,
    )
