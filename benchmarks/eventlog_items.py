"""Where a run's Spark work goes, per pipeline item, from Spark's event log.

    python benchmarks/eventlog_items.py LOG [--item TEXT] [--scans]

LOG is an event log file that ``benchmarks/profile_daily.py --event-log DIR`` left in DIR
(``DIR/eventlog_v2_*/events_*``; zstd-compressed logs are read as they are). For each pipeline
item (its Spark jobs carry the item's name as their job group description, e.g. ``features of
cost_features (plugin 'cost' ...)``; jobs outside an item, such as the Gold build's, are under
``-``), prints its jobs, its tasks' seconds (summed over tasks: on two cores a stage that keeps
both busy for 1 s counts 2 s), the rows its scans read and the bytes its shuffles wrote, costliest
first. ``--scans`` adds, per item, the rows read from each table's folder and how many scans read
it (from the SQL plans' "number of output rows" of each Parquet scan): a table read whole many
times shows there. ``--item`` keeps the items whose name holds TEXT.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

OUTSIDE = "-"  # jobs that no pipeline item started


def _lines(path: Path) -> Iterator[str]:
    if path.suffix in (".zst", ".zstd"):
        try:
            import zstandard  # installed with langchain-core (langsmith)
        except ImportError:
            raise SystemExit(f"{path}: a zstd-compressed log needs the zstandard package") from None

        with path.open("rb") as raw:
            yield from io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), encoding="utf-8")
    else:
        with path.open(encoding="utf-8") as text:
            yield from text


def _table(location: str) -> str:
    """A scan's table: the last three folders under ``lakehouse/`` (catalog, schema, table)."""
    found = re.findall(r"/lakehouse/([^/\], ]+/[^/\], ]+/[^/\], ]+)", location)
    return found[0] if found else location[:80]


def summarize(path: Path) -> tuple[dict, dict]:
    """``(items, scans)``: per item, a Counter of jobs, task_ms, input_rows, shuffle_bytes; per
    item, a Counter of rows read per table and one of scans per table (as a pair)."""
    items: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    job_item: dict[int, str] = {}
    stage_item: dict[int, str] = {}
    execution_item: dict[int, str] = {}
    scan_metric: dict[int, tuple[int, str]] = {}  # accumulator -> (execution, table)
    scan_rows: collections.Counter = collections.Counter()

    def walk(node: dict, execution: int) -> None:
        if node.get("nodeName", "").startswith("Scan parquet"):
            table = _table(node.get("metadata", {}).get("Location", ""))
            for metric in node.get("metrics", []):
                if metric["name"] == "number of output rows":
                    scan_metric[metric["accumulatorId"]] = (execution, table)
        for child in node.get("children", []):
            walk(child, execution)

    for line in _lines(path):
        event = json.loads(line)
        kind = event["Event"]
        if kind.endswith("SQLExecutionStart") or kind.endswith("SQLAdaptiveExecutionUpdate"):
            walk(event["sparkPlanInfo"], event["executionId"])
        elif kind == "SparkListenerJobStart":
            properties = event.get("Properties") or {}
            item = properties.get("spark.job.description") or OUTSIDE
            job_item[event["Job ID"]] = item
            for stage in event["Stage IDs"]:
                stage_item[stage] = item
            if properties.get("spark.sql.execution.id") is not None:
                execution_item[int(properties["spark.sql.execution.id"])] = item
            items[item]["jobs"] += 1
        elif kind == "SparkListenerTaskEnd":
            item = stage_item.get(event["Stage ID"], OUTSIDE)
            info, metrics = event["Task Info"], event.get("Task Metrics") or {}
            items[item]["task_ms"] += info["Finish Time"] - info["Launch Time"]
            items[item]["input_rows"] += (metrics.get("Input Metrics") or {}).get("Records Read", 0)
            items[item]["shuffle_bytes"] += (metrics.get("Shuffle Write Metrics") or {}).get(
                "Shuffle Bytes Written", 0
            )
            for update in info.get("Accumulables", []):
                if update["ID"] in scan_metric:
                    with contextlib.suppress(TypeError, ValueError):  # a metric without a number
                        scan_rows[update["ID"]] += int(update.get("Update", 0))
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    scans: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for accumulator, (execution, table) in scan_metric.items():
        item = execution_item.get(execution, OUTSIDE)
        rows[item][table] += scan_rows.get(accumulator, 0)
        scans[item][table] += 1
    return items, {item: (rows[item], scans[item]) for item in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--item", default="", help="only the items whose name holds this text")
    parser.add_argument("--scans", action="store_true", help="rows read per table and item")
    args = parser.parse_args()
    if not args.log.is_file():
        parser.error(f"{args.log}: not a file (give the events_* file inside the event log's folder)")
    items, scans = summarize(args.log)
    total = sum(counts["task_ms"] for counts in items.values())
    print(
        f"{'item':70} {'jobs':>5} {'task s':>8} {'in rows':>9} {'shuffle':>9}   (all items: {total / 1000:.1f} task s)"
    )
    for item, counts in sorted(items.items(), key=lambda kv: -kv[1]["task_ms"]):
        if args.item not in item:
            continue
        print(
            f"{item[:70]:70} {counts['jobs']:5} {counts['task_ms'] / 1000:8.1f} "
            f"{counts['input_rows'] / 1e6:8.2f}M {counts['shuffle_bytes'] / 1e6:7.1f}MB"
        )
        if args.scans and item in scans:
            rows, count = scans[item]
            for table, read in rows.most_common():
                print(f"    {table[:62]:62} {read / 1e6:8.2f}M rows in {count[table]} scan(s)")


if __name__ == "__main__":
    main()
