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
from health_monitor import evaluation
from health_monitor.deadline import checkpoint, current
from health_monitor.errors import MissingInputError, SchemaError
from health_monitor.featurestore import FeatureLookup
from health_monitor.featurestore.pyfunc import load_packed_model
from health_monitor.host import Host
from health_monitor.lakehouse.spark import cancel_jobs_with_item
from health_monitor.modeling import ScoringModel
from health_monitor.pipelines.report import StageReport, run_items
from health_monitor.plugins import PluginInfo
from health_monitor.registry import CHALLENGER, CHAMPION, run_owner_tags
from health_monitor.runtime import Runtime
from health_monitor.specs import Model, ProblemType

LABEL = "__label__"
log = logging.getLogger(__name__)


def run_train(
    runtime: Runtime, host: Host, domain: str | None = None, model: str | None = None, progress: bool = True
) -> StageReport:
    runtime.refuse_if_half_loaded()  # labels are read from Gold: two loads at once mislead
    runtime.registry.configure()
    # Runs a killed process left RUNNING would stay so for ever: close them as failed first.
    for run_id, reason in runtime.registry.close_abandoned_runs(runtime.settings.item_time_limit):
        log.warning("closed MLflow run %s as FAILED: %s", run_id, reason)
    selected = host.select_models(domain, model)
    plugins = {o.spec.name: o.plugin for o in selected}
    return run_items(
        "train",
        selected,
        lambda m: m.name,
        lambda m: train_model(runtime, host, m, plugins[m.name]),
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
    cols = [*spec.keys, spec.time_column]
    for lk in spec.lookups:
        cols += [*lk.lookup_key, *([lk.timestamp_lookup_key] if lk.timestamp_lookup_key else [])]
    return list(dict.fromkeys(cols))


def require_feature_tables(runtime: Runtime, spec: Model) -> None:
    """Skip (not fail) a model whose feature tables were not computed, e.g. for want of Gold."""
    missing = [
        runtime.settings.feature_table(lk.table)
        for lk in spec.lookups
        if not runtime.lakehouse.exists(runtime.settings.feature_table(lk.table))
    ]
    if missing:
        raise MissingInputError(", ".join(missing), "not computed (see `health-monitor features`)")


def model_base(runtime: Runtime, spec: Model):
    require_feature_tables(runtime, spec)
    base = spec.base(runtime.tables)
    needed = base_columns(spec)
    missing = [c for c in needed if c not in base.columns]
    if missing:
        raise SchemaError(f"model {spec.name}: base() has no column(s) {missing}; it has {base.columns}")
    return base.select(*needed)


def _training_frame(runtime: Runtime, host: Host, spec: Model):
    base = model_base(runtime, spec)
    supervised = spec.problem_type is not ProblemType.ANOMALY_DETECTION
    owned = host.labels.get(spec.name)
    labels = owned.spec.compute(runtime.tables) if owned else None
    if labels is None:
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
    training_set = runtime.feature_store.create_training_set(df, feature_lookups(runtime, spec), label=label)
    frame = training_set.load_df().toPandas()
    if label is not None and supervised:
        frame = frame[frame[label].notna()].reset_index(drop=True)
    if frame.empty:
        raise SchemaError(f"model {spec.name}: the training set is empty (no base rows with features)")
    return training_set, frame, label


def _evaluate(spec: Model, fitted: ScoringModel, X: pd.DataFrame, y: pd.Series | None) -> dict[str, float]:
    if y is None or y.isna().all():
        return {}
    known = y.notna().to_numpy()
    return evaluation.score(spec.problem_type, y[known], fitted.predict(X[known]))


def requirements(plugin: PluginInfo) -> list[str]:
    reqs = [f"health-monitor=={health_monitor.__version__}"]
    if plugin.distribution:
        reqs.append(f"{plugin.distribution}=={plugin.version}")
    for dist in ("mlflow", "scikit-learn", "xgboost", "pandas", "numpy", "pyarrow"):
        with contextlib.suppress(md.PackageNotFoundError):
            reqs.append(f"{dist}=={md.version(dist)}")
    return reqs


def _params(estimator: Any, prefix: str) -> dict[str, str]:
    try:
        params = estimator.get_params(deep=False)
    except AttributeError:
        return {}
    return {f"{prefix}.{k}": repr(v)[:500] for k, v in params.items()}


def train_model(runtime: Runtime, host: Host, spec: Model, plugin: PluginInfo) -> dict[str, Any]:
    settings, registry = runtime.settings, runtime.registry
    cancel_jobs_with_item()
    training_set, frame, label = _training_frame(runtime, host, spec)
    split = evaluation.time_split(frame, spec.time_column, spec.test_fraction)
    features = list(spec.feature_names)
    inputs = list(spec.input_names)
    X_train, X_test = split.train[features], split.test[features]
    y_train = split.train[label] if label else None
    y_test = split.test[label] if label else None
    supervised = spec.problem_type is not ProblemType.ANOMALY_DETECTION
    if supervised and y_train.nunique() < 2 and spec.problem_type is ProblemType.CLASSIFICATION:
        raise SchemaError(
            f"model {spec.name}: the training rows have one class only ({y_train.unique().tolist()})"
        )

    y_fit = y_train if supervised else None
    times = split.train[spec.time_column]
    model = ScoringModel.fit(
        clone(spec.estimator()),
        spec.problem_type,
        X_train,
        y_fit,
        inputs=inputs,
        times=times,
        enrich=spec.enrich,
        outputs=spec.outputs,
    )
    # The baseline sees every looked-up column: its rule may read a context feature.
    baseline = ScoringModel.fit(spec.baseline(), spec.problem_type, X_train, y_fit, times=times)
    metrics = _evaluate(spec, model, X_test, y_test)
    baseline_metrics = _evaluate(spec, baseline, X_test, y_test)
    beats = evaluation.beats(spec.problem_type, metrics, baseline_metrics)
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
                "verdict": _verdict(beats),
            }
        )
        mlflow.log_params(
            {
                **_params(model.estimator, "model"),
                **_params(baseline.estimator, "baseline"),
                "train_rows": len(split.train),
                "test_rows": len(split.test),
                "split_cutoff": str(split.cutoff),
                "features": ",".join(inputs)[:5000],
                "context": ",".join(spec.context)[:5000],
            }
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({f"baseline_{k}": v for k, v in baseline_metrics.items() if np.isfinite(v)})
        info = runtime.feature_store.log_model(
            model,
            "model",
            training_set=training_set,
            registered_model_name=name,
            output_columns=model.output_columns,
            pip_requirements=requirements(plugin),
            metadata={"model": spec.name, "domain": spec.domain, "problem_type": spec.problem_type.value},
        )
        version = int(info.registered_model_version)
        alias, reason = _promote(runtime, spec, name, version, metrics, X_test, y_test)
        mlflow.set_tag("alias", alias)
        mlflow.set_tag("alias_reason", reason)
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
        "verdict": _verdict(beats),
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "split_cutoff": str(split.cutoff.date()),
    }


def _close_when_stopped(registry, run_id: str) -> None:
    """If this item is stopped at its time limit, its run ends FAILED at once, not RUNNING."""
    token = current()
    if token is not None:
        token.on_cancel(lambda: registry.client().set_terminated(run_id, "FAILED"))


def _verdict(beats: bool | None) -> str:
    return {True: "beats baseline", False: "does not beat baseline", None: "not evaluated"}[beats]


def _promote(runtime, spec, name, version, metrics, X_test, y_test) -> tuple[str, str]:
    """The new version becomes champion unless the current champion does better on the same rows."""
    registry = runtime.registry
    current = registry.version_by_alias(name, CHAMPION)
    if current is None:
        registry.set_alias(name, CHAMPION, version)
        return CHAMPION, "first version"
    try:
        old = load_packed_model(current.uri).model
        old_metrics = _evaluate(spec, old, X_test, y_test)
    except Exception as exc:  # an older champion that cannot score today's features is replaced
        registry.set_alias(name, CHAMPION, version)
        return CHAMPION, f"champion v{current.version} could not be evaluated ({type(exc).__name__})"
    verdict = evaluation.better(spec.problem_type, metrics, old_metrics)
    if verdict is False:
        registry.set_alias(name, CHALLENGER, version)
        return CHALLENGER, f"champion v{current.version} is better on the same test rows"
    registry.set_alias(name, CHAMPION, version)
    return CHAMPION, f"not worse than v{current.version}" if verdict else "no labels to compare; newest wins"
