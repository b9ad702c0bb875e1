"""The Gold build: system tables in, the Gold contract out, with Spark, on either home.

Each Gold table has one :class:`GoldStep`: the system tables it reads, a sentence on how, and a
pure ``build(ctx) -> DataFrame``. The steps live in one module per source family
(:mod:`.billing`, :mod:`.lakeflow`, :mod:`.compute`, :mod:`.access`, :mod:`.quality`); the runner
(:mod:`.runner`) decides what to rebuild, checks each result against the contract and writes it.

Incremental runs: a step with a ``grain`` (a date or timestamp column of its Gold table)
recomputes only the rows whose grain falls on or after ``since`` (its last build's latest day
minus ``late_days``: billing corrections and late rows land days after the usage); the older rows
are kept as they were. A ``build`` must therefore return exactly the Gold rows whose grain is on
or after ``ctx.since`` (all rows when ``ctx.since`` is None), reading only what it needs. Steps
without a grain (dimensions, small tables) are rebuilt whole whenever a source changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from health_monitor.errors import TableNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from health_monitor.system.inputs import AccountInputs


@dataclass(frozen=True)
class GoldStep:
    """How one Gold table comes from the system tables.

    ``sources`` are system tables as ``schema.table`` (``billing.usage``); ``inputs`` are sections
    of the account file (``commitments``, ``job_slas``). ``transform`` is rendered into
    docs/gold-contract.md, so say there what the code does (joins, windows, flattening, gaps).
    ``snapshot`` steps are tables the system tables keep no history of: ``health-monitor
    snapshot`` appends to them and ``gold`` never rewrites them.
    """

    table: str
    sources: tuple[str, ...]
    transform: str
    build: Callable[[BuildContext], DataFrame]
    grain: str | None = None
    late_days: int = 2
    inputs: tuple[str, ...] = ()
    snapshot: bool = False


class MissingSourceError(TableNotFoundError):
    """A system table a step needs is not in the source catalog; the step is skipped."""


@dataclass
class BuildContext:
    """What a step's ``build`` receives. Read sources through it; never write."""

    spark: SparkSession
    since: dt.date | None
    today: dt.date
    inputs: AccountInputs
    _read_system: Callable[[str], DataFrame]
    _read_gold: Callable[[str], DataFrame]
    _has_system: Callable[[str], bool]
    notes: list[str] = field(default_factory=list)

    def system(self, name: str) -> DataFrame:
        """The system table ``schema.table`` (all of it; filter by ``since`` yourself)."""
        return self._read_system(name)

    def has_system(self, name: str) -> bool:
        return self._has_system(name)

    def gold(self, table: str) -> DataFrame:
        """A Gold table as it stands (built earlier in this run, or kept from before)."""
        return self._read_gold(table)

    def input(self, section: str) -> DataFrame:
        """A section of the account file (``commitments``, ``job_slas``) as a Spark frame."""
        from pyspark.sql.pandas.types import from_arrow_schema

        table = getattr(self.inputs, section)
        if table.num_rows == 0:
            return self.spark.createDataFrame([], schema=from_arrow_schema(table.schema))
        return self.spark.createDataFrame(table)

    def note(self, text: str) -> None:
        """Something the user should know about this build (a lag, a gap); printed by `gold`."""
        self.notes.append(text)


def gold_steps() -> dict[str, GoldStep]:
    """Every step by Gold table name, in build order."""
    from health_monitor.gold.build import access, billing, compute, lakeflow, quality

    steps: dict[str, GoldStep] = {}
    for module in (billing, lakeflow, compute, access, quality):
        for step in module.STEPS:
            if step.table in steps:
                raise RuntimeError(f"two Gold steps build {step.table}")
            steps[step.table] = step
    return steps
