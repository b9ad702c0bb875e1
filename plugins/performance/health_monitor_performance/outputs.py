"""The performance models' own output columns (``enrich`` functions, pickled by reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from health_monitor_performance.gold import SIZES


def _size_name(codes) -> np.ndarray:
    index = np.clip(np.rint(np.nan_to_num(np.asarray(codes, dtype="float64"), nan=4.0)), 1, len(SIZES))
    return np.asarray(SIZES, dtype=object)[index.astype(int) - 1]


def warehouse_recommendation(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    needed = predicted["prediction"].to_numpy(dtype="float64")
    recommended = np.clip(np.rint(needed), 1, len(SIZES))
    current = np.nan_to_num(features["warehouse_size_code"].to_numpy(dtype="float64"), nan=4.0)
    work = features["p90_work_s"].to_numpy(dtype="float64")
    return pd.DataFrame(
        {
            "recommended_size": _size_name(recommended),
            "current_size": _size_name(current),
            "size_steps": (recommended - np.clip(np.rint(current), 1, len(SIZES))).astype("int32"),
            # Yesterday's p90 execution time, had it run at the recommended size.
            "expected_p90_exec_s": work / np.power(2.0, recommended - 1),
        }
    )


def optimization_advice(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    def column(name):
        return np.nan_to_num(features[name].to_numpy(dtype="float64"))

    flagged = predicted["prediction"].to_numpy(dtype="float64") >= 0.5
    advice = np.select(
        [
            ~flagged,
            column("historical_spill_share") > 0.1,
            column("historical_full_scan_share") > 0.5,
            column("historical_queue_s") > 5.0,
            column("historical_cache_rate") > 0.1,
        ],
        [
            "none",
            "reduce spill: a larger warehouse, or filter and aggregate earlier",
            "add liquid clustering or ZORDER on the filter columns so files can be pruned",
            "queued at capacity: raise max clusters or move off peak hours",
            "repeated query: serve it from the result cache or a materialized view",
        ],
        default="review the query profile: runs are erratic against their history",
    )
    return pd.DataFrame({"recommendation": advice.astype(object)})


def capacity_recommendation(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    p90 = np.nan_to_num(predicted["prediction_p90"].to_numpy(dtype="float64"))
    return pd.DataFrame({"recommended_workers": np.ceil(np.clip(p90, 0, None)).astype("int32")})


def migration_risk(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    p = np.clip(np.nan_to_num(predicted["probability"].to_numpy(dtype="float64")), 0, 1)
    return pd.DataFrame(
        {
            "risk_score": np.rint(100 * p).astype("int32"),
            "risk_level": np.where(p >= 0.6, "HIGH", np.where(p >= 0.3, "MEDIUM", "LOW")).astype(object),
        }
    )


def cache_outlook(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    share = np.clip(predicted["prediction"].to_numpy(dtype="float64"), 0, 1)
    volume = np.nan_to_num(features["statements_7d"].to_numpy(dtype="float64"))
    return pd.DataFrame({"expected_cached_statements": share * volume})
