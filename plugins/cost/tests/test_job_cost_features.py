"""``job_cost_features`` asked only for the rows from a day on (the daily run): its windows read
the recent anchors only, and a job idle for longer than them carries its last active day and
cost from before them. The rows equal the whole computation's."""

import datetime as dt

import pandas as pd
import pyarrow.compute as pc
import pytest

from health_monitor.config import Settings
from health_monitor.pipelines.refresh import RecordingTables
from health_monitor_cost.billing import MAX_LAG_DAYS
from health_monitor_cost.job_features import HISTORY_DAYS, JOB_COST_FEATURES

DAYS = 75
END = dt.date(2026, 10, 31)
PAUSED_FROM = END - dt.timedelta(days=DAYS - 10)  # the paused jobs' billing stops here
SINCE = END - dt.timedelta(days=4)
KEYS = ["workspace_id", "job_id", "usage_date", "billing_lag_days"]


@pytest.fixture(scope="module")
def runtime(spark, tmp_path_factory):
    """A small simulated account whose first five billed jobs bill nothing after their first ten days."""
    from health_monitor.runtime import Runtime
    from health_monitor.simulate import SimulationConfig, simulate_account

    gold = simulate_account(SimulationConfig(scale="small", seed=11, days=DAYS, end_date=END)).gold
    usage = gold["fact_usage"]
    paused = pc.unique(usage["job_id"].drop_null()).sort()[:5]
    late = pc.and_(pc.is_in(usage["job_id"], paused), pc.greater_equal(usage["usage_date"], PAUSED_FROM))
    gold["fact_usage"] = usage.filter(pc.invert(pc.fill_null(late, False)))
    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("paused") / "home"))
    for name in ("fact_usage", "dim_cluster", "fact_job_run_timeline", "fact_node_timeline"):
        runtime.lakehouse.write(runtime.settings.gold(name), gold[name])
    return runtime, paused.to_pylist()


def _rows(runtime, rows_from: dt.date | None) -> pd.DataFrame:
    frame = JOB_COST_FEATURES.compute(RecordingTables(runtime, rows_from=rows_from)).toPandas()
    frame = frame[pd.to_datetime(frame["usage_date"]).dt.date >= SINCE]
    return frame.sort_values(KEYS).reset_index(drop=True)


def test_rows_asked_from_a_day_are_the_whole_computations_and_carry_a_paused_jobs_last_active_day(runtime):
    runtime, paused = runtime
    whole, recent = _rows(runtime, None), _rows(runtime, SINCE)
    carried = whole[whole["job_id"].isin(paused) & whole["last_active_cost"].notna()]
    # The case this checks: the last active day lies before every window of the rows asked for.
    assert len(carried) > 0 and (carried["days_since_active"] > HISTORY_DAYS + MAX_LAG_DAYS).all()
    assert len(recent) > len(carried)
    # (dtypes aside: a column with no null among the rows kept converts to an int)
    pd.testing.assert_frame_equal(recent, whole, check_exact=False, rtol=1e-9, check_dtype=False)
