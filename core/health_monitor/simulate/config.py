"""Simulation settings: the named scales and the validated, frozen run configuration."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

# A fixed default so that a seed alone reproduces an account, whatever day it is generated on.
DEFAULT_END_DATE = dt.date(2025, 6, 30)
MIN_DAYS = 14
MAX_INCIDENTS = 50  # x the base count: 50 to 100 incidents of a type, if it has the entities


@dataclass(frozen=True)
class ScaleSpec:
    """Entity counts of one scale. Per-day activity follows from these and the seasonality."""

    name: str
    days: int
    workspaces: int
    users: int
    jobs: int
    warehouses: int
    all_purpose_clusters: int
    pipelines: int
    endpoints: int
    catalogs: int
    schemas_per_catalog: int
    tables_per_schema: int
    incident_multiplier: int
    # Mean audit events of an active human user per day (Poisson, per-user rate around it).
    user_events_per_day: float
    # Mean SQL statements per warehouse per running hour (per-warehouse rate around it).
    queries_per_warehouse_hour: float


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(
        name="small",
        days=60,
        workspaces=2,
        users=60,
        jobs=40,
        warehouses=4,
        all_purpose_clusters=4,
        pipelines=2,
        endpoints=1,
        catalogs=2,
        schemas_per_catalog=3,
        tables_per_schema=6,
        incident_multiplier=1,
        user_events_per_day=10.0,
        queries_per_warehouse_hour=25.0,
    ),
    "medium": ScaleSpec(
        name="medium",
        days=180,
        workspaces=6,
        users=600,
        jobs=400,
        warehouses=16,
        all_purpose_clusters=24,
        pipelines=10,
        endpoints=4,
        catalogs=3,
        schemas_per_catalog=5,
        tables_per_schema=10,
        incident_multiplier=4,
        user_events_per_day=10.0,
        queries_per_warehouse_hour=25.0,
    ),
    # Matches the feature-row counts of the architecture document over 90 days: ~2.7K
    # workspace-days, ~625K user-days, ~10K warehouse-days, ~435K job-days, ~100 catalog-days.
    # Users, jobs and warehouses are a little above the document's counts because not every
    # entity is active every day (weekends, weekday-only jobs, jobs created during the window).
    "seed": ScaleSpec(
        name="seed",
        days=90,
        workspaces=30,
        users=8600,
        jobs=5400,
        warehouses=130,
        all_purpose_clusters=300,
        pipelines=120,
        endpoints=30,
        catalogs=1,
        schemas_per_catalog=10,
        tables_per_schema=30,
        incident_multiplier=8,
        user_events_per_day=8.0,
        queries_per_warehouse_hour=15.0,
    ),
}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Same config, same account: nothing depends on the clock or on hash()."""

    scale: str = "small"
    seed: int = 7
    days: int | None = None
    end_date: dt.date = field(default=DEFAULT_END_DATE)
    # How many incidents of each type, as a multiple of the type's base count (None: the scale's
    # own). An incident-rich account measures detectors per incident type; every incident still
    # gets an entity of its own, so a type runs out of eligible entities before its count.
    incidents: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.scale, str) or self.scale not in SCALES:
            raise ValueError(f"scale: {self.scale!r} is not a known scale; valid values: {', '.join(SCALES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed: must be an int (e.g. 7), got {type(self.seed).__name__} {self.seed!r}")
        if self.seed < 0:
            raise ValueError(f"seed: must be a non-negative int, got {self.seed}")
        if self.days is not None and (
            isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < MIN_DAYS
        ):
            raise ValueError(
                f"days: must be None (the scale's default) or an int >= {MIN_DAYS}, got {self.days!r}"
            )
        if self.incidents is not None and (
            isinstance(self.incidents, bool)
            or not isinstance(self.incidents, int)
            or not 1 <= self.incidents <= MAX_INCIDENTS
        ):
            raise ValueError(
                f"incidents: must be None (the scale's multiplier) or an int from 1 to {MAX_INCIDENTS}, "
                f"got {self.incidents!r}"
            )
        if isinstance(self.end_date, dt.datetime) or not isinstance(self.end_date, dt.date):
            raise ValueError(f"end_date: must be a datetime.date, got {type(self.end_date).__name__}")

    @property
    def spec(self) -> ScaleSpec:
        spec = SCALES[self.scale]
        if self.incidents is None:
            return spec
        return replace(spec, incident_multiplier=self.incidents)

    @property
    def n_days(self) -> int:
        return self.days if self.days is not None else self.spec.days

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.n_days - 1)
