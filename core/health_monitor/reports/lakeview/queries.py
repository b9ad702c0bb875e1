"""The SQL of the dashboards and alerts, over the tables the pipelines write.

Dashboard queries name tables by their last part (``findings``, ``<model>_predictions``): the
bundle sets each dashboard's ``dataset_catalog`` and ``dataset_schema`` to the catalog and the
``ml`` schema, so one file serves every target. Alert queries carry the three-part name with
``${var.catalog}``, which the bundle substitutes. Every query reads only columns the pipelines
write (:func:`prediction_columns`, :data:`health_monitor.reports.findings.SCHEMA`); tests/test_lakeview.py
runs each on local Spark over tables of exactly those columns.

What a model's charts show follows the HTML report: its primary output (probability, forecast or
anomaly score), the P10-P90 interval of regressions, the finding rule's reference columns (a
budget) and entity columns, the model's own outputs on the latest day.
"""

from __future__ import annotations

from health_monitor.errors import SchemaError
from health_monitor.models.drift import OUTPUT_COLUMN
from health_monitor.models.modeling import OUTPUT_COLUMNS
from health_monitor.reports.findings import FINDINGS_TABLE
from health_monitor.reports.lakeview.widgets import column
from health_monitor.sdk.specs import SEVERITIES, FindingRule, Model, ProblemType

WINDOW_DAYS = 90  # days shown, ending on the table's latest day (the HTML report's window)
TOP_ROWS = 20  # rows of a "latest day" table
# Columns every prediction table has besides the model's base, outputs (pipelines/infer.py).
STANDARD_COLUMNS = (("model_name", "string"), ("model_version", "int"), ("scored_at", "timestamp"))
# Aliases a model's daily dataset gives its columns; an output of the same name is left out.
_ALIASES = ("entity", "day", "score", "low", "high")


def prediction_columns(spec: Model) -> list[tuple[str, str | None]]:
    """(name, Spark type) of every column of ``<model>_predictions``: the base columns (their
    type is the plugin's: None), the standard outputs of the problem type, the model's
    ``outputs`` and the scoring bookkeeping. The conformance suite checks a real table has them."""
    columns: dict[str, str | None] = {c: None for c in spec.base_columns}
    for name, kind in [*OUTPUT_COLUMNS[spec.problem_type], *spec.outputs, *STANDARD_COLUMNS]:
        columns[name] = kind
    return list(columns.items())


def severity_rank(expression: str = "severity") -> str:
    """``low`` 0 ... ``critical`` 3 (:data:`SEVERITIES` order), NULL for anything else."""
    cases = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES))
    return f"CASE {expression} {cases} END"


def _severities(names) -> str:
    return ", ".join(f"'{s}'" for s in names)


def _in_domain(domain: str | None, alias: str = "") -> str:
    return f" AND array_contains({alias}domains, '{domain}')" if domain else ""


# -- the findings table -------------------------------------------------------------------------


def open_findings(domain: str | None = None) -> str:
    """Today's open findings, most severe first."""
    return f"""
SELECT
  finding_id,
  severity,
  {severity_rank()} AS severity_rank,
  array_join(domains, ', ') AS domain_list,
  array_join(models, ', ') AS model_list,
  entity_kind,
  entity_id,
  reason,
  action,
  score,
  first_seen,
  last_seen,
  datediff(last_seen, first_seen) + 1 AS days_flagged
FROM {FINDINGS_TABLE}
WHERE state = 'open'{_in_domain(domain)}
ORDER BY severity_rank DESC, score DESC
"""


def open_by_domain() -> str:
    """One row per open finding and domain it has a signal from."""
    return f"""
SELECT finding_id, severity, explode(domains) AS domain
FROM {FINDINGS_TABLE}
WHERE state = 'open'
"""


def _latest_findings_day() -> str:
    return f"latest AS (SELECT max(last_seen) AS latest_day FROM {FINDINGS_TABLE})"


def findings_by_day(domain: str | None = None) -> str:
    """Per day of the window and severity: the findings open that day (first to last seen) and
    those opened that day."""
    start = f"date_sub(latest.latest_day, {WINDOW_DAYS - 1})"
    return f"""
WITH {_latest_findings_day()},
days AS (
  SELECT
    f.severity,
    f.first_seen,
    explode(sequence(greatest(f.first_seen, {start}), f.last_seen)) AS day
  FROM {FINDINGS_TABLE} f CROSS JOIN latest
  WHERE f.last_seen >= {start}{_in_domain(domain, "f.")}
)
SELECT
  day,
  severity,
  count(*) AS open_findings,
  count_if(first_seen = day) AS opened
FROM days
GROUP BY day, severity
"""


def top_entities(domain: str | None = None) -> str:
    """The entities flagged on the most days of the window, with their worst severity."""
    start = f"date_sub(latest.latest_day, {WINDOW_DAYS - 1})"
    return f"""
WITH {_latest_findings_day()}
SELECT
  f.entity_kind,
  f.entity_id,
  count(*) AS episodes,
  sum(datediff(f.last_seen, greatest(f.first_seen, {start})) + 1) AS days_flagged,
  element_at(array({_severities(SEVERITIES)}), max({severity_rank("f.severity")}) + 1) AS worst_severity,
  max(f.last_seen) AS last_seen,
  max_by(f.reason, f.last_seen) AS latest_reason,
  bool_or(f.state = 'open') AS open_now
FROM {FINDINGS_TABLE} f CROSS JOIN latest
WHERE f.last_seen >= {start}{_in_domain(domain, "f.")}
GROUP BY f.entity_kind, f.entity_id
ORDER BY days_flagged DESC, last_seen DESC
LIMIT {TOP_ROWS}
"""


# -- a model's predictions ----------------------------------------------------------------------


def entity_columns(spec: Model, rule: FindingRule | None) -> tuple[str, ...]:
    """The columns naming what a prediction is about: the finding rule's entity, else the keys
    without the time column (as the report draws it)."""
    return rule.entity if rule is not None else spec.entity_columns


def _model_select(spec: Model, rule: FindingRule | None) -> tuple[list[str], list[str]]:
    """The select list of a model's datasets and the names it gives, without the model's outputs."""
    what = f"model {spec.name}"
    available = {name for name, _ in prediction_columns(spec)}
    entity = entity_columns(spec, rule)
    missing = [c for c in entity if c not in available]
    if missing:
        raise SchemaError(f"{what}: its finding rule's entity {missing} is not a column of its predictions")
    parts = ", ".join(f"CAST(p.{column(c, what)} AS STRING)" for c in entity)
    time = f"to_date(p.{column(spec.time_column, what)})"
    select = [
        f"{time} AS day",
        f"concat_ws('/', {parts}) AS entity",
        f"p.{column(OUTPUT_COLUMN[spec.problem_type], what)} AS score",
    ]
    if spec.problem_type is ProblemType.REGRESSION:
        select += ["p.`prediction_p10` AS low", "p.`prediction_p90` AS high"]
    names = [
        "day",
        "entity",
        "score",
        *(["low", "high"] if spec.problem_type is ProblemType.REGRESSION else []),
    ]
    for reference in rule.references if rule is not None else ():
        if reference not in _ALIASES:
            select.append(f"p.{column(reference, what)}")
            names.append(reference)
    return select, names


def _latest_prediction_day(spec: Model) -> str:
    time = column(spec.time_column, f"model {spec.name}")
    return f"latest AS (SELECT max(to_date({time})) AS latest_day FROM {spec.prediction_table})"


def model_daily(spec: Model, rule: FindingRule | None) -> str:
    """Every prediction of the window: day, entity, primary output (and interval, references)."""
    select, _ = _model_select(spec, rule)
    columns = ",\n  ".join(select)
    return f"""
WITH {_latest_prediction_day(spec)}
SELECT
  {columns}
FROM {spec.prediction_table} p CROSS JOIN latest
WHERE to_date(p.{column(spec.time_column, spec.name)}) >= date_sub(latest.latest_day, {WINDOW_DAYS - 1})
"""


def model_latest(spec: Model, rule: FindingRule | None) -> tuple[str, list[str]]:
    """The latest day's top predictions by primary output, with the model's own outputs; and the
    names of the columns it returns."""
    select, names = _model_select(spec, rule)
    for name, _ in spec.outputs:
        if name not in _ALIASES and name not in names:
            select.append(f"p.{column(name, spec.name)}")
            names.append(name)
    columns = ",\n  ".join(select)
    sql = f"""
WITH {_latest_prediction_day(spec)}
SELECT
  {columns}
FROM {spec.prediction_table} p CROSS JOIN latest
WHERE to_date(p.{column(spec.time_column, spec.name)}) = latest.latest_day
ORDER BY score DESC NULLS LAST
LIMIT {TOP_ROWS}
"""
    return sql, names


# -- alerts ---------------------------------------------------------------------------------------


def new_findings(table: str, severities=SEVERITIES, fresh_days: int = 3) -> str:
    """How many open findings of ``severities`` were opened on the findings table's latest day,
    counted only while that day is at most ``fresh_days`` old (a stopped daily run does not
    announce the same findings day after day)."""
    return f"""
WITH latest AS (SELECT max(last_seen) AS latest_day FROM {table})
SELECT count(f.finding_id) AS new_findings
FROM {table} f CROSS JOIN latest
WHERE f.state = 'open'
  AND f.severity IN ({_severities(severities)})
  AND f.first_seen = latest.latest_day
  AND latest.latest_day >= date_sub(current_date(), {fresh_days})
"""
