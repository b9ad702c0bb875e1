"""How many of a simulated account's recent incidents the findings catch, per incident type.

For each of the last ``--days`` days (ending at the latest day any model scored), every finding
rule is evaluated on that day's predictions, as the daily run would have on that day. An incident
of the ground truth (``<catalog>.ground_truth.incidents``; only this evaluation reads it) is
*found* when a finding names its entity (same kind and id) on a day from the day before it
started to the day after it ended (forecasts are made the day before; billing is judged a day or
more late). Incidents about a cluster are matched by their workspace, since no model flags
clusters; the table says so. Also prints the number of findings (merged per entity) each day.

    .venv/bin/python benchmarks/findings_recall.py --home /tmp/f13-demo [--days 14]
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import defaultdict
from itertools import pairwise

import pandas as pd

from health_monitor.config import Settings
from health_monitor.host import load_host
from health_monitor.reports.findings import day_of, evaluate_rule
from health_monitor.runtime import Runtime

KIND_OF_INCIDENT = {
    "job": "job",
    "user": "user",
    "workspace": "workspace",
    "warehouse": "warehouse",
    "table": "table",
}


def daily_signals(runtime: Runtime, host, days: int) -> tuple[pd.DataFrame, dt.date]:
    frames, latest = [], dt.date.min
    for model, owned in sorted(host.findings.items()):
        spec = host.models[model].spec
        table = runtime.settings.predictions(model)
        if not runtime.lakehouse.exists(table):
            continue
        rows = runtime.lakehouse.read_arrow(table).to_pandas()
        if owned.spec.judged:
            rows = rows[rows[owned.spec.judged].notna()]
        if rows.empty:
            continue
        rows["_day"] = [day_of(v) for v in rows[spec.time_column]]
        latest = max(latest, max(rows["_day"]))
        frames.append((spec, owned.spec, rows))
    out = []
    start = latest - dt.timedelta(days=days - 1)
    for spec, rule, rows in frames:
        for day, group in rows[rows["_day"] >= start].groupby("_day"):
            signals = evaluate_rule(spec, rule, group.drop(columns="_day").reset_index(drop=True))
            if len(signals):
                out.append(signals.drop(columns="base").assign(day=day))
    return (pd.concat(out, ignore_index=True) if out else pd.DataFrame()), latest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    runtime = Runtime.embedded(Settings(home=args.home))
    host = load_host()
    signals, latest = daily_signals(runtime, host, args.days)
    start = latest - dt.timedelta(days=args.days - 1)
    per_day = signals.drop_duplicates(["day", "entity_kind", "entity_id"]).groupby("day").size()
    print(f"findings a day, {start} .. {latest} (merged per entity):")
    print("  " + ", ".join(f"{d:%m-%d} {n}" for d, n in per_day.items()))
    print(f"  median {per_day.median():.0f}, max {per_day.max()}; latest day {per_day.get(latest, 0)}")
    # New: flagged today and not the day before (what `alerts` announces; an open finding that
    # is still flagged is not announced again). The first day has no day before: left out.
    entities = signals.drop_duplicates(["day", "entity_kind", "entity_id"])
    seen = {
        day: set(zip(g["entity_kind"], g["entity_id"], strict=True)) for day, g in entities.groupby("day")
    }
    days = sorted(seen)
    new = pd.Series({d: len(seen[d] - seen[p]) for p, d in pairwise(days)}, dtype="int64")
    print("new findings a day (not flagged the day before):")
    print("  " + ", ".join(f"{d:%m-%d} {n}" for d, n in new.items()))
    print(f"  median {new.median():.0f}, max {new.max()}")
    by_severity = entities.groupby(["day", "severity"]).size().unstack(fill_value=0).median()
    print(
        "  findings a day by severity (median): " + ", ".join(f"{s} {n:.0f}" for s, n in by_severity.items())
    )
    by_model = (
        signals.groupby(["day", "model"]).size().unstack(fill_value=0).median().sort_values(ascending=False)
    )
    print("  signals a day by model (median): " + ", ".join(f"{m} {n:.0f}" for m, n in by_model.items() if n))
    flagged, serious = defaultdict(set), defaultdict(set)  # (kind, id) -> days; medium or higher
    columns = [signals[c] for c in ("entity_kind", "entity_id", "day", "severity")]
    for kind, entity, day, severity in zip(*columns, strict=True):
        flagged[(kind, entity)].add(day)
        if severity != "low":
            serious[(kind, entity)].add(day)
    incidents = runtime.lakehouse.read_arrow(runtime.settings.ground_truth("incidents")).to_pandas()
    incidents["first"] = [day_of(v) for v in incidents["start_time"]]
    incidents["last"] = [day_of(v) - dt.timedelta(days=1) for v in incidents["end_time"]]  # end is exclusive
    recent = incidents[(incidents["last"] >= start) & (incidents["first"] <= latest)]
    rows = []
    for inc in recent.to_dict("records"):
        kind = KIND_OF_INCIDENT.get(inc["entity_type"])
        key = (kind, inc["entity_id"]) if kind else ("workspace", inc["workspace_id"])
        window = {
            inc["first"] + dt.timedelta(days=k) for k in range(-1, (inc["last"] - inc["first"]).days + 2)
        }
        rows.append(
            {
                "incident_type": inc["incident_type"],
                "entity": inc["entity_type"],
                "found": bool(flagged.get(key, set()) & window),
                "found_medium": bool(serious.get(key, set()) & window),
            }
        )
    table = pd.DataFrame(rows)
    print(
        f"\nincidents overlapping {start} .. {latest}: {len(table)}; found {int(table['found'].sum())}, "
        f"by a finding of medium severity or higher {int(table['found_medium'].sum())}"
    )
    print(f"  {'incident type':<36} found  medium+")
    summary = table.groupby(["incident_type", "entity"]).agg(
        found=("found", "sum"), medium=("found_medium", "sum"), count=("found", "size")
    )
    for (itype, entity), r in summary.iterrows():
        via = "  (matched by its workspace)" if entity not in KIND_OF_INCIDENT else ""
        print(f"  {itype:<36} {r['found']}/{r['count']}    {r['medium']}/{r['count']}{via}")


if __name__ == "__main__":
    main()
