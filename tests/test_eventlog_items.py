"""benchmarks/eventlog_items.py on a hand-written Spark event log: task seconds, rows and scans
land on the item whose job group started them. Fast, no Spark."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "eventlog_items.py"
_spec = importlib.util.spec_from_file_location("eventlog_items", _PATH)
assert _spec is not None and _spec.loader is not None
items_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(items_module)

COST = "features of cost_features (plugin 'cost')"
LAKE = "/home/lakehouse/health_monitor/gold"


def _scan(table: str, accumulator: int) -> dict:
    return {
        "nodeName": "Scan parquet ",
        "metadata": {"Location": f"InMemoryFileIndex(1 paths)[file:{LAKE}/{table}/v-1]"},
        "metrics": [{"name": "number of output rows", "accumulatorId": accumulator}],
        "children": [],
    }


def _task(stage: int, launch: int, finish: int, rows: int, updates: dict[int, int]) -> dict:
    return {
        "Event": "SparkListenerTaskEnd",
        "Stage ID": stage,
        "Task Info": {
            "Launch Time": launch,
            "Finish Time": finish,
            "Accumulables": [{"ID": k, "Update": str(v)} for k, v in updates.items()],
        },
        "Task Metrics": {
            "Input Metrics": {"Records Read": rows},
            "Shuffle Write Metrics": {"Shuffle Bytes Written": 10},
        },
    }


def _log(tmp_path: Path) -> Path:
    plan = {
        "nodeName": "Join",
        "metrics": [],
        "children": [_scan("fact_usage", 1), _scan("fact_usage", 2), _scan("dim_cluster", 3)],
    }
    events = [
        {
            "Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
            "executionId": 7,
            "sparkPlanInfo": plan,
        },
        {
            "Event": "SparkListenerJobStart",
            "Job ID": 0,
            "Stage IDs": [0, 1],
            "Properties": {"spark.job.description": COST, "spark.sql.execution.id": "7"},
        },
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Stage IDs": [2], "Properties": {}},
        _task(0, 1_000, 3_500, 100, {1: 100}),
        _task(1, 1_000, 2_000, 40, {2: 30, 3: 10}),
        _task(2, 0, 4_000, 5, {}),
    ]
    path = tmp_path / "events_1_local-1"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def test_work_lands_on_the_item_that_started_it(tmp_path):
    items, scans = items_module.summarize(_log(tmp_path))
    cost = items[COST]
    assert (cost["jobs"], cost["task_ms"], cost["input_rows"], cost["shuffle_bytes"]) == (1, 3_500, 140, 20)
    outside = items[items_module.OUTSIDE]  # a job no item started (the Gold build's)
    assert (outside["jobs"], outside["task_ms"]) == (1, 4_000)
    rows, count = scans[COST]
    assert rows["health_monitor/gold/fact_usage"] == 130 and count["health_monitor/gold/fact_usage"] == 2
    assert rows["health_monitor/gold/dim_cluster"] == 10 and count["health_monitor/gold/dim_cluster"] == 1
