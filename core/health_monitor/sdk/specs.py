"""Declarative specs a plugin registers: feature tables, labels, models and explainers.

Specs are frozen dataclasses holding domain knowledge only. Their functions are pure: they get a
:class:`Tables` reader and return a Spark DataFrame; they never create sessions, MLflow runs or
tables. The core decides where the tables live (the embedded lakehouse or Unity Catalog) and
runs the functions.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from health_monitor.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# A model's endpoint on `health-monitor serve`: one path segment (the core serves /models/<name> too).
_ENDPOINT = re.compile(r"^/[a-z0-9][a-z0-9-]{0,62}$")
RESERVED_PATHS = ("/health", "/openapi.json", "/report", "/models")
# Distinct entities a multiclass label value must be seen on before a model may learn it.
MIN_CLASS_ENTITIES = 3
OUTPUT_TYPES = ("double", "int", "bigint", "string", "boolean")
# What an incident (ground truth: the simulator's or the user's own) can be about.
INCIDENT_ENTITY_KINDS = ("workspace", "user", "job", "cluster", "warehouse", "table")


def _check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise SchemaError(f"{what} must be lower_snake_case (a-z, 0-9, _), got {value!r}")


def _sources(value: Sequence[str] | str, what: str) -> tuple[str, ...]:
    """Gold table names (a lone name is one table)."""
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        _check_name(name, f"{what}: sources")
    return names


def _as_tuple(value: Sequence[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    value = tuple(value)
    if not value or not all(isinstance(v, str) and v for v in value):
        raise SchemaError(f"{what} must be a non-empty sequence of column names, got {value!r}")
    return value


class Tables(Protocol):
    """What a spec's function may read. Every method returns a Spark DataFrame.

    Raises :class:`health_monitor.errors.TableNotFoundError` for a table that does not exist.
    """

    def gold(self, table: str) -> DataFrame:
        """A Gold table by short name, e.g. ``tables.gold("fact_usage")``."""

    def features(self, table: str) -> DataFrame:
        """A feature table that a plugin registered, by short name."""

    def ground_truth(self, table: str) -> DataFrame:
        """Ground truth of a simulated account (``incidents``). Only labels may read it."""

    def has_ground_truth(self) -> bool:
        """True when the account was simulated and its incidents are available."""

    def shared(self, df: DataFrame) -> DataFrame:
        """``df``, computed at most once while a stage runs: for a frame derived from Gold that
        several places read (job runs rebuilt from the run timeline, read by a feature table's
        branches, other feature tables and model bases). The first frame of a plan is kept in
        Spark's cache until the stage ends; a frame with the same plan (the same tables, filters
        and expressions) is read from it. Outside a stage it is ``df`` itself."""

    def rows_from(self) -> dt.date | None:
        """The first day whose rows the caller keeps, or None when it keeps every row.

        The daily run recomputes a feature table from a day on and drops the rows of earlier
        days: a ``compute`` may leave them out to spare their cost (compute the history from all
        of Gold, the rows only from this day). What it returns from this day on must not change
        (the conformance suite checks it). Gold is cut only by ``lookback_days``, never by this.
        """


class ProblemType(str, enum.Enum):
    """How the core turns an estimator's output into the standard prediction columns.

    - ``classification``: ``predict_proba`` -> ``probability`` (of class 1) and ``prediction``.
    - ``regression``: ``predict`` -> ``prediction``, plus ``prediction_p10`` and
      ``prediction_p90``: an 80% interval calibrated on the latest training times (split
      conformal), so forecasts say how sure they are.
    - ``multiclass``: ``predict_proba`` -> ``predicted_class`` (the label, a string),
      ``prediction`` (its index in the sorted classes) and ``probability`` (of that class).
    - ``anomaly_detection``: ``score_samples`` (higher = more normal, the sklearn convention) ->
      ``anomaly_score`` in [0, 1] (the share of training rows that looked more normal),
      ``is_anomaly`` and ``prediction`` (1 for an anomaly). Trained without labels; labels,
      where there are any, are used for evaluation only.
    """

    CLASSIFICATION = "classification"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    ANOMALY_DETECTION = "anomaly_detection"


@dataclass(frozen=True)
class FeatureTable:
    """A feature table: its name, primary key and the pure function that computes it.

    ``compute(tables)`` returns one row per primary key. ``timestamp_key`` (one of the primary
    keys) makes the table usable in point-in-time lookups: a training row takes the latest
    feature row at or before its own time. Every feature in a row must be known at
    ``timestamp_key``: rolling windows end at that row, never after it.

    ``domain`` is the domain the table belongs to. A plugin whose entry point is that domain
    owns the name: another plugin registering the same name is refused (docs/plugins.md, "Names
    have owners"). A table without a domain is registered only while nobody else claims its name.
    """

    name: str
    primary_keys: tuple[str, ...]
    compute: Callable[[Tables], DataFrame]
    timestamp_key: str | None = None
    description: str = ""
    # sources: every Gold table ``compute`` reads. `gold` builds only the tables the installed
    # plugins declare (a table that declares none may read any, so then every Gold table is
    # built); the conformance suite checks that ``compute`` reads no other.
    sources: tuple[str, ...] = ()
    domain: str | None = None
    # warnings(rows) -> lines a user should read about the rows just computed (a feed that lands
    # late, an entity gone quiet); `features` prints them. It runs on the cached result: aggregate,
    # never collect the rows.
    warnings: Callable[[DataFrame], list[str]] | None = None
    # lookback_days: how many days before a row's timestamp its features read (its longest
    # window). With it, the daily run computes the recent rows from that many days of Gold only;
    # None (the default) means a row may read the whole history (an all-time rate, a first-seen
    # date), so the daily run reads all of Gold to compute them.
    lookback_days: int | None = None
    # day_column: for a table without a timestamp key whose keys keep their day (a statement and
    # its start), the column whose day a row belongs to. The daily run then recomputes only the
    # recent days' rows, as for a table with a timestamp key, instead of the whole table.
    day_column: str | None = None
    # late_days: how many days after its day a row's Gold rows may still arrive (a statement
    # reaches the query history when it ends, up to two days after it started). The daily run
    # recomputes that many days more than Gold says changed.
    late_days: int = 0

    def __post_init__(self) -> None:
        _check_name(self.name, "feature table name")
        _check_lookback(self.lookback_days, f"feature table {self.name}")
        _check_late(self.late_days, f"feature table {self.name}")
        if self.day_column is not None and self.timestamp_key is not None:
            raise SchemaError(
                f"feature table {self.name}: day_column is for a table without a timestamp_key; this "
                f"one has its days in {self.timestamp_key!r}"
            )
        if self.lookback_days is not None and self.days_by is None:
            raise SchemaError(
                f"feature table {self.name}: lookback_days needs a timestamp_key or a day_column"
            )
        if self.domain is not None:
            _check_name(self.domain, f"feature table {self.name}: domain")
        object.__setattr__(self, "primary_keys", _as_tuple(self.primary_keys, f"{self.name}.primary_keys"))
        if self.timestamp_key is not None and self.timestamp_key not in self.primary_keys:
            raise SchemaError(
                f"feature table {self.name}: timestamp_key {self.timestamp_key!r} must be one of "
                f"its primary keys {list(self.primary_keys)}"
            )
        if not callable(self.compute):
            raise SchemaError(f"feature table {self.name}: compute must be callable")
        object.__setattr__(self, "sources", _sources(self.sources, f"feature table {self.name}"))

    @property
    def days_by(self) -> str | None:
        """The column whose day each row belongs to (``timestamp_key`` or ``day_column``), or None."""
        return self.timestamp_key or self.day_column


@dataclass(frozen=True)
class Lookup:
    """Features a model takes from one feature table (the plugin-side ``FeatureLookup``).

    ``table`` is the feature table's short name; the core qualifies it. ``lookup_key`` are
    columns of the model's base that match the table's primary keys (minus its timestamp key),
    in order. With ``timestamp_lookup_key`` the join is as-of: the latest feature row whose
    timestamp is at or before that column's value.
    """

    table: str
    lookup_key: tuple[str, ...]
    features: tuple[str, ...]
    timestamp_lookup_key: str | None = None
    rename: tuple[tuple[str, str], ...] = ()  # (feature, output name) pairs

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "lookup_key", _as_tuple(self.lookup_key, f"lookup on {self.table}: lookup_key")
        )
        object.__setattr__(self, "features", _as_tuple(self.features, f"lookup on {self.table}: features"))
        object.__setattr__(self, "rename", tuple(tuple(p) for p in self.rename))

    @property
    def output_names(self) -> tuple[str, ...]:
        renames = dict(self.rename)
        return tuple(renames.get(f, f) for f in self.features)


def _check_late(days: Any, owner: str) -> None:
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise SchemaError(f"{owner}: late_days must be a whole number of days >= 0, got {days!r}")


def _check_lookback(days: Any, owner: str) -> None:
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise SchemaError(f"{owner}: lookback_days must be a whole number of days >= 0 or None, got {days!r}")


@dataclass(frozen=True)
class Model:
    """A model a plugin asks the core to train, register, score and explain.

    - ``keys``: the columns that identify one prediction; they become the primary key of
      ``<name>_predictions``.
    - ``base(tables)``: the rows to train and score on: ``keys`` plus ``time_column`` plus any
      ``timestamp_lookup_key`` the lookups need. Every row is scored at inference; rows with a
      label are used for training and evaluation.
    - ``time_column``: the moment a prediction is made for; the train/test split is by time.
    - ``estimator()``: a fresh, unfitted scikit-learn style estimator (``fit`` returns self).
    - ``baseline()``: the naive rule a practitioner would otherwise use, with the same
      interface, fitted and evaluated on the same split.
    - ``context``: looked-up features the estimator does not see but ``enrich`` reads (a
      month-to-date spend, a commit amount, the current cluster size).
    - ``outputs`` and ``enrich``: the model's own prediction columns beyond the standard ones
      (risk level, recommended size, savings, component scores). ``enrich(features, predicted)``
      gets the looked-up features (context included) and the standard output columns, and
      returns a frame with exactly ``outputs`` (name, Spark type) as its columns, row for row.
      It must be a module-level function: it is pickled with the model by reference.
    - ``min_class_entities`` (multiclass): a class is learnt, and so can be predicted, only if
      at least this many distinct entities (``keys`` minus ``time_column``) carry it in the
      training rows; rows of rarer classes are left out of training (not of the evaluation).
      Classes are often free text from the account (a team tag): one resource tagged with
      planted text must not become a team the model attributes spend to.
    - ``entity``: the keys that name what a row is about, when that is not ``keys`` minus
      ``time_column``: a per-run model's rows are runs, its entity is the job. The test split's
      coverage (how many test rows are about an entity the training rows know) counts it.
    - ``lookback_days``: how many days of Gold before a row's ``time_column`` day ``base`` reads
      to give that row (a job's runs of the last week to know it is still active). With it, the
      daily run builds the keys of the recent days from that many days of Gold only; None (the
      default) means ``base`` reads all of Gold. The conformance suite checks it.
    - ``fixed_time``: a key's ``time_column`` never changes (a statement's start) although it is
      not one of ``keys``. The daily run then rescores only the recent days' keys instead of
      every key (a key whose time could move would be stored twice). ``late_days`` as for
      :class:`FeatureTable`: how many days after its time a key may first appear in Gold.
    - ``sources``: the Gold tables ``base`` and the model's labels read that the feature tables
      of its lookups do not declare in theirs (a label's SLA table, say). `gold` builds only what
      the installed plugins declare; the conformance suite checks it.
    """

    name: str
    domain: str
    problem_type: ProblemType
    keys: tuple[str, ...]
    time_column: str
    lookups: tuple[Lookup, ...]
    base: Callable[[Tables], DataFrame]
    estimator: Callable[[], Any]
    baseline: Callable[[], Any]
    baseline_name: str
    description: str = ""
    test_fraction: float = 0.25  # the latest share of distinct times held out for evaluation
    context: tuple[str, ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    enrich: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None
    notes: str = ""  # for the model card: known limits, and why it does not beat its baseline if so
    min_class_entities: int = MIN_CLASS_ENTITIES
    endpoint: str | None = (
        None  # its path on `health-monitor serve`, e.g. "/cost-anomaly"; None: only /models/<name>
    )
    entity: tuple[str, ...] = ()  # default: keys minus time_column
    lookback_days: int | None = None
    fixed_time: bool = False
    late_days: int = 0
    sources: tuple[str, ...] = ()

    @property
    def scores_by_day(self) -> bool:
        """Whether the daily run may rescore only the recent days' keys: ``time_column`` is one of
        ``keys``, or is ``fixed_time``."""
        return self.time_column in self.keys or self.fixed_time

    def __post_init__(self) -> None:
        _check_name(self.name, "model name")
        _check_lookback(self.lookback_days, f"model {self.name}")
        _check_late(self.late_days, f"model {self.name}")
        _check_name(self.domain, f"model {self.name}: domain")
        if self.endpoint is not None and (
            not isinstance(self.endpoint, str)
            or not _ENDPOINT.match(self.endpoint)
            or self.endpoint in RESERVED_PATHS
        ):
            raise SchemaError(
                f"model {self.name}: endpoint must be one path segment like '/cost-anomaly' "
                f"(lowercase letters, digits, '-'), not one of {RESERVED_PATHS}; got {self.endpoint!r}"
            )
        object.__setattr__(self, "problem_type", ProblemType(self.problem_type))
        object.__setattr__(self, "keys", _as_tuple(self.keys, f"model {self.name}: keys"))
        object.__setattr__(self, "entity", tuple(self.entity))
        if not set(self.entity) <= set(self.keys) - {self.time_column}:
            raise SchemaError(
                f"model {self.name}: entity {list(self.entity)} must be keys other than the time column "
                f"{self.time_column!r}; keys are {list(self.keys)}"
            )
        object.__setattr__(self, "lookups", tuple(self.lookups))
        object.__setattr__(self, "sources", _sources(self.sources, f"model {self.name}"))
        if not self.lookups:
            raise SchemaError(f"model {self.name}: needs at least one Lookup")
        if not 0.05 <= self.test_fraction <= 0.5:
            raise SchemaError(
                f"model {self.name}: test_fraction must be in [0.05, 0.5], got {self.test_fraction}"
            )
        if isinstance(self.min_class_entities, bool) or not isinstance(self.min_class_entities, int):
            raise SchemaError(
                f"model {self.name}: min_class_entities must be an int, got {self.min_class_entities!r}"
            )
        if self.min_class_entities < 1:
            raise SchemaError(f"model {self.name}: min_class_entities must be at least 1")
        object.__setattr__(self, "context", tuple(self.context))
        object.__setattr__(self, "outputs", tuple(tuple(o) for o in self.outputs))
        names = [n for lookup in self.lookups for n in lookup.output_names]
        unknown = [c for c in self.context if c not in names]
        if unknown:
            raise SchemaError(f"model {self.name}: context {unknown} are not features of its lookups")
        if len(self.context) >= len(set(names)):
            raise SchemaError(f"model {self.name}: every feature is context; the estimator needs inputs")
        if bool(self.outputs) != (self.enrich is not None):
            raise SchemaError(f"model {self.name}: outputs and enrich go together (give both or neither)")
        for output in self.outputs:
            if len(output) != 2 or output[1] not in OUTPUT_TYPES:
                raise SchemaError(
                    f"model {self.name}: each output is (name, type) with type in {OUTPUT_TYPES}, got {output!r}"
                )
            _check_name(output[0], f"model {self.name}: output name")
        if self.enrich is not None and "<" in getattr(self.enrich, "__qualname__", "<"):
            raise SchemaError(
                f"model {self.name}: enrich must be a module-level function (it is pickled by reference), "
                f"got {getattr(self.enrich, '__qualname__', self.enrich)!r}"
            )
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaError(f"model {self.name}: features come from two lookups: {duplicated}; rename one")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every looked-up feature, context included: what scoring joins."""
        return tuple(n for lookup in self.lookups for n in lookup.output_names)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The features the estimator sees: ``feature_names`` minus ``context``."""
        return tuple(n for n in self.feature_names if n not in self.context)

    @property
    def entity_columns(self) -> tuple[str, ...]:
        """The keys that identify an entity across time: ``entity``, else ``keys`` minus ``time_column``."""
        return self.entity or tuple(k for k in self.keys if k != self.time_column) or self.keys

    @property
    def base_columns(self) -> tuple[str, ...]:
        """The columns scoring needs from ``base``: keys, the time column and every lookup's keys.
        ``<name>_predictions`` holds exactly these, the standard outputs and ``outputs``."""
        columns = [*self.keys, self.time_column]
        for lookup in self.lookups:
            columns += [
                *lookup.lookup_key,
                *([lookup.timestamp_lookup_key] if lookup.timestamp_lookup_key else []),
            ]
        return tuple(dict.fromkeys(columns))

    @property
    def prediction_table(self) -> str:
        return f"{self.name}_predictions"


@dataclass(frozen=True)
class Labels:
    """The label of one model: ``compute(tables)`` returns the model's ``keys`` plus ``column``.

    Labels come from Gold facts (result states, durations against the SLA table, snapshots).
    Anomaly detectors read known incidents (``tables.ground_truth("incidents")``): the
    simulator's on a simulated account, the user's own on a real one (``health-monitor labels
    import``); when an account has none (``tables.has_ground_truth()`` is False) return ``None``
    and the model is trained without an evaluation.

    ``incidents`` names the incident types ``compute`` reads, each with the kind of entity whose
    id is the incident's ``entity_id`` (``{"compromised_user": "user"}``). ``labels import``
    accepts exactly the types the installed models declare, so a user's file is checked against
    what will read it.
    """

    model: str
    compute: Callable[[Tables], DataFrame | None]
    column: str = "label"
    description: str = ""
    incidents: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.model, "labels: model")
        if not callable(self.compute):
            raise SchemaError(f"labels of {self.model}: compute must be a function of the tables")
        if not isinstance(self.incidents, Mapping):
            raise SchemaError(
                f"labels of {self.model}: incidents must map incident type to entity kind, got {self.incidents!r}"
            )
        for kind, entity in self.incidents.items():
            _check_name(kind, f"labels of {self.model}: incident type")
            if entity not in INCIDENT_ENTITY_KINDS:
                raise SchemaError(
                    f"labels of {self.model}: the entity of incident type {kind!r} must be one of "
                    f"{INCIDENT_ENTITY_KINDS}, got {entity!r}"
                )
        object.__setattr__(self, "incidents", dict(self.incidents))


@dataclass(frozen=True)
class Contribution:
    """One feature's part in one prediction."""

    feature: str
    value: float | None
    weight: float  # signed change of the model's output that this feature accounts for


ExplainFunction = Callable[[Any, "pd.DataFrame", int], "list[list[Contribution]]"]


@dataclass(frozen=True)
class Explainer:
    """A model-specific explanation: ``explain(estimator, X, top_k)`` -> per row, its top
    contributions, largest absolute weight first. Without one, the core explains by occlusion
    (each feature set to its training median, one at a time)."""

    model: str
    explain: ExplainFunction


class ToolContext(Protocol):
    """What an agent tool may do: read prediction tables and explain predictions. Read-only and
    Spark-free; raise ``langchain_core.tools.ToolException`` for anything the agent should fix.
    Key values are compared as text and never become SQL."""

    def model(self, name: str) -> Model:
        """A registered model's spec (its keys, time column, outputs)."""

    def require(self, model: str, column: str, value: str, listed_by: str) -> str:
        """``value`` if ``<model>_predictions`` has it in ``column``; else a ToolException that
        names the column, shows a few valid values and the tool (``listed_by``) that lists them."""

    def query(
        self,
        model: str,
        where: dict[str, str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        order_by: str | None = None,
        descending: bool = True,
        limit: int = 20,
        latest_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Prediction rows as JSON-ready dicts: equal to ``where``, with the model's time column
        within [start, end] (or at its latest value), sorted and capped at ``limit``."""

    def distinct(self, model: str, column: str, limit: int = 100) -> list[str]:
        """Distinct values of a column of ``<model>_predictions``, sorted."""

    def explain(self, model: str, keys: dict[str, str], top_k: int = 5) -> dict[str, Any]:
        """The top contributing features of one prediction (the explain hook, or occlusion)."""


@dataclass(frozen=True)
class AgentTool:
    """A tool a plugin ships for its domain's agent.

    ``args`` is a pydantic model whose every field has a description (the agent reads them);
    ``run(context, args)`` returns JSON-ready data. ``domain="all"`` puts the tool in every
    agent's toolkit. The core wraps it as a LangChain
    ``StructuredTool``, validates the arguments before ``run`` sees them, and turns errors into
    ``ToolException`` messages so the agent loop goes on.
    """

    name: str
    domain: str
    description: str
    args: type
    run: Callable[[ToolContext, Any], Any]
    reads: tuple[str, ...] = ()  # the models whose predictions it reads (docs, tests)
    entity: str | None = None  # the required entity argument, a key column of ``reads[0]``

    def __post_init__(self) -> None:
        _check_name(self.name, "tool name")
        if self.domain != "all" and not (isinstance(self.domain, str) and _NAME.match(self.domain)):
            raise SchemaError(
                f"tool {self.name}: domain must be a domain name (lowercase, digits, '_') or 'all', got {self.domain!r}"
            )
        if len(self.description.strip()) < 20:
            raise SchemaError(f"tool {self.name}: needs a description the agent can act on")
        fields = getattr(self.args, "model_fields", None)
        if fields is None:
            raise SchemaError(f"tool {self.name}: args must be a pydantic BaseModel subclass")
        undocumented = [n for n, f in fields.items() if not (f.description or "").strip()]
        if undocumented:
            raise SchemaError(f"tool {self.name}: argument(s) {undocumented} have no description")


SEVERITIES = ("low", "medium", "high", "critical")  # in increasing order
# The kinds of entity a finding is about. A rule may name another lower_snake_case kind; these are
# the ones the shipped plugins use, and findings of several models merge only within one kind.
ENTITY_KINDS = ("workspace", "user", "job", "warehouse", "table", "resource", "statement")

# A column of a rule: a fixed value for every row, or a vectorised function of the day's rows.
RowValue = Any  # str | float | Callable[[pd.DataFrame], pd.Series | np.ndarray]


@dataclass(frozen=True)
class FindingRule:
    """When a prediction of ``model`` is a finding: something a person should act on today.

    Every function gets the prediction rows of the model's latest day (a pandas DataFrame with
    the model's keys, standard outputs and ``outputs``) and returns one value per row, vectorised
    (pandas or numpy over the whole frame, no Python loop per row):

    - ``when(rows)``: a boolean per row; True makes the row a finding (``is_anomaly == 1``, the
      tuned class ``prediction == 1``, a forecast over a budget column, a saving over 0).
    - ``entity``: the column(s) naming the entity the finding is about (joined with ``/``), and
      ``entity_kind``: what it is (one of :data:`ENTITY_KINDS` usually; text or a function).
      Findings of several models about the same kind and id on the same day merge into one.
    - ``severity``: one of :data:`SEVERITIES`, fixed or per row.
    - ``reason(rows)``: one line per row in words, with the numbers that make it a finding. The
      core appends the top features of the prediction (the explain hook, or occlusion) with their
      values and typical values (training medians) when the champion can be loaded.
    - ``action``: what to do, fixed or per row.
    - ``score``: ranks findings of one severity (higher first): a column name or a function;
      default ``anomaly_score``, else ``probability``, else 1.
    - ``columns``: the prediction columns the functions read; checked against the table, so a
      renamed output is a clear error rather than a KeyError.
    - ``judged``: a column that must be non-null for a row to be judged: the latest day is then
      the latest day that has such rows (a deviation known only once the day is observed).
    - ``max_per_day``: keep only this many of the day's flagged rows, by severity then score, for
      models that flag more than a person reads (statement-level models flag hundreds of rows a
      day; a job-risk classifier tuned for F1 flags a tenth of the jobs). The reason of each kept
      row says how many were flagged; the prediction table keeps them all.
    - ``references``: numeric prediction columns the HTML report draws as dashed lines beside
      the model's output, on the same axis: what the output is judged against (a budget, a
      commitment). Checked against the table like ``columns``.

    Only the plugin that owns ``model`` may register its rule (like labels and explainers).
    """

    model: str
    when: Callable[[pd.DataFrame], Any]
    entity: tuple[str, ...]
    entity_kind: RowValue
    severity: RowValue
    reason: Callable[[pd.DataFrame], Any]
    action: RowValue
    score: RowValue = None
    columns: tuple[str, ...] = ()
    judged: str | None = None
    max_per_day: int | None = None
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.model, "finding rule: model")
        what = f"finding rule of {self.model}"
        object.__setattr__(self, "entity", _as_tuple(self.entity, f"{what}: entity"))
        object.__setattr__(self, "columns", tuple(self.columns))
        if self.references:
            object.__setattr__(self, "references", _as_tuple(self.references, f"{what}: references"))
        for name in ("when", "reason"):
            if not callable(getattr(self, name)):
                raise SchemaError(f"{what}: {name} must be a function of the day's prediction rows")
        if isinstance(self.severity, str) and self.severity not in SEVERITIES:
            raise SchemaError(f"{what}: severity must be one of {SEVERITIES}, got {self.severity!r}")
        if isinstance(self.entity_kind, str):
            _check_name(self.entity_kind, f"{what}: entity_kind")
        for name in ("entity_kind", "severity", "action"):
            value = getattr(self, name)
            if not (callable(value) or (isinstance(value, str) and value.strip())):
                raise SchemaError(f"{what}: {name} must be text or a function of the rows, got {value!r}")
        if self.score is not None and not (callable(self.score) or isinstance(self.score, str)):
            raise SchemaError(f"{what}: score must be a column name or a function, got {self.score!r}")
        if self.max_per_day is not None and (
            isinstance(self.max_per_day, bool)
            or not isinstance(self.max_per_day, int)
            or self.max_per_day < 1
        ):
            raise SchemaError(f"{what}: max_per_day must be a whole number >= 1, got {self.max_per_day!r}")
