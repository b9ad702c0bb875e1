"""Reliability labels, from Gold facts: did any run of the job fail that day."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.specs import Labels, Tables
from health_monitor_reliability.runs import job_runs


def failure_labels(tables: Tables):
    return job_runs(tables).groupBy("job_id", "run_date").agg(F.max("failed").alias("label"))


FAILURE_LABELS = Labels(
    model="job_failure_predictor",
    compute=failure_labels,
    description="1 when at least one run of the job ended FAILED, ERROR or TIMED_OUT that day.",
)
