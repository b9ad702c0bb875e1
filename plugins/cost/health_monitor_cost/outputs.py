"""The cost models' own output columns (``Model.enrich``): module-level, pickled by reference."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _col(frame: pd.DataFrame, name: str, default: float = np.nan) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default, dtype="float64")
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")


def _net(frame: pd.DataFrame) -> np.ndarray:
    """List price to contract price: 1 - discount (no discount known: 1)."""
    return 1.0 - np.nan_to_num(np.clip(_col(frame, "discount_pct"), 0, 100)) / 100.0


BUDGET_OUTPUTS = (
    ("ytd_cost", "double"),
    ("forecast_month_total", "double"),
    ("cumulative_forecast", "double"),
    ("commit_variance", "double"),
    ("monthly_budget", "double"),
    ("budget_variance", "double"),
    ("budget_status", "string"),
)


def budget_enrich(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """Contract-price tracking around the month forecast (list price, P10/P50/P90):

    - ``ytd_cost``: the workspace's spend at contract price since the account commit began;
    - ``forecast_month_total``: the P50 month total at contract price;
    - ``cumulative_forecast``: ``ytd_cost`` plus the rest of the month at contract price;
    - ``commit_variance``: ``cumulative_forecast`` plus the month's pace over the rest of the
      commit period, minus the workspace's share of the commit (its share of the account's
      spend so far); positive means on course to overshoot, and summed over workspaces it is
      the account's variance;
    - ``budget_variance``: P50 minus the month's budget (list price); ``budget_status``:
      ``over`` when even P10 exceeds the budget, ``at_risk`` when P90 does, else ``on_track``
      (``no_budget`` without one).
    """
    p50 = predicted["prediction"].to_numpy(dtype="float64")
    p10 = predicted["prediction_p10"].to_numpy(dtype="float64")
    p90 = predicted["prediction_p90"].to_numpy(dtype="float64")
    net = _net(features)
    ytd = _col(features, "ytd_effective_cost")
    mtd = np.nan_to_num(_col(features, "mtd_cost"))
    rest_of_month = np.clip(p50 - mtd, 0, None) * net
    cumulative = ytd + rest_of_month
    days_in_month = _col(features, "days_in_month")
    pace = p50 * net / np.where(days_in_month > 0, days_in_month, np.nan)
    projected = cumulative + pace * _col(features, "commit_days_after_month")
    account_ytd = _col(features, "account_ytd_effective_cost")
    share = np.where(account_ytd > 0, ytd / np.where(account_ytd > 0, account_ytd, 1.0), np.nan)
    budget = _col(features, "monthly_budget")
    status = np.where(
        np.isnan(budget),
        "no_budget",
        np.where(p10 > budget, "over", np.where(p90 > budget, "at_risk", "on_track")),
    )
    return pd.DataFrame(
        {
            "ytd_cost": ytd,
            "forecast_month_total": p50 * net,
            "cumulative_forecast": cumulative,
            "commit_variance": projected - share * _col(features, "account_commit_usd"),
            "monthly_budget": budget,
            "budget_variance": p50 - budget,
            "budget_status": status.astype(object),
        }
    )


COMMITMENT_OUTPUTS = (
    ("recommended_commit", "double"),
    ("expected_savings", "double"),
    ("commit_coverage", "double"),
)


def commitment_enrich(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """Commit the P10 of the next 30 days' spend: usage it is ~90% likely to reach, so the commit
    is very likely consumed in full. ``recommended_commit`` is at contract price;
    ``expected_savings`` is the contract discount on that usage (list minus contract price);
    ``commit_coverage`` is the share of the P50 forecast the commit covers."""
    p10 = np.clip(predicted["prediction_p10"].to_numpy(dtype="float64"), 0, None)
    p50 = predicted["prediction"].to_numpy(dtype="float64")
    net = _net(features)
    return pd.DataFrame(
        {
            "recommended_commit": p10 * net,
            "expected_savings": p10 * (1.0 - net),
            "commit_coverage": np.where(p50 > 0, p10 / np.where(p50 > 0, p50, 1.0), np.nan),
        }
    )


# Jobs compute lists at roughly 0.15-0.30 USD/DBU against 0.40-0.55 for all-purpose compute:
# moving a job off an all-purpose cluster saves about this share of its cost.
JOB_CLUSTER_SAVINGS_SHARE = 0.6
TARGET_CPU_PERCENT = 60.0  # a right-sized cluster runs its workers about this busy
MAX_RIGHT_SIZE_SHARE = 0.5  # never suggest cutting more than half the workers at once
LOW_CPU_PERCENT = 30.0

JOB_OUTPUTS = (("recommendation", "string"), ("estimated_savings", "double"))


def job_enrich(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """A recommendation for the job's next run day and the savings on its predicted cost:

    - ``move_to_job_cluster`` when it ran on all-purpose compute in the last 7 days (billed at
      the all-purpose price): ~60% of that cost;
    - ``right_size`` when its classic clusters averaged under 30% CPU over 7 days: the share of
      workers that would bring CPU to ~60% (at most half);
    - ``keep`` otherwise (serverless jobs, busy clusters), with no savings.
    """
    cost = np.clip(predicted["prediction"].to_numpy(dtype="float64"), 0, None)
    ap_cost = np.nan_to_num(_col(features, "all_purpose_cost_7d"))
    ap_share = np.clip(
        ap_cost / np.where(_col(features, "cost_7d") > 0, _col(features, "cost_7d"), np.nan), 0, 1
    )
    cpu = _col(features, "avg_cpu_7d")
    classic = np.nan_to_num(_col(features, "serverless_share_7d")) < 0.5
    move = ap_cost > 0
    right_size = ~move & classic & (cpu < LOW_CPU_PERCENT)
    cut = np.clip(1 - cpu / TARGET_CPU_PERCENT, 0, MAX_RIGHT_SIZE_SHARE)
    savings = np.where(
        move,
        cost * np.nan_to_num(ap_share, nan=1.0) * JOB_CLUSTER_SAVINGS_SHARE,
        np.where(right_size, cost * np.nan_to_num(cut), 0.0),
    )
    rec = np.where(move, "move_to_job_cluster", np.where(right_size, "right_size", "keep"))
    return pd.DataFrame({"recommendation": rec.astype(object), "estimated_savings": savings})


def _confidence(probability: np.ndarray) -> np.ndarray:
    return np.where(probability >= 0.8, "high", np.where(probability >= 0.5, "medium", "low")).astype(object)


def _tag(features: pd.DataFrame) -> pd.Series:
    if "team" not in features.columns:
        return pd.Series([None] * len(features), dtype=object)
    team = features["team"]
    return team.where(team.map(lambda v: isinstance(v, str) and v != ""), None).astype(object)


TAG_OUTPUTS = (("tag_key", "string"), ("needs_tag", "int"), ("confidence", "string"))


def tag_enrich(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """The tag key recommended (``team``), whether the resource lacks it (``needs_tag``: the
    recommendation is for these) and a confidence level from the class probability."""
    return pd.DataFrame(
        {
            "tag_key": np.full(len(features), "team", dtype=object),
            "needs_tag": _tag(features).isna().astype("int32").to_numpy(),
            "confidence": _confidence(predicted["probability"].to_numpy(dtype="float64")),
        }
    )


CHARGEBACK_OUTPUTS = (
    ("attributed_team", "string"),
    ("attribution_source", "string"),
    ("attributed_cost", "double"),
)


def chargeback_enrich(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """The team the day's spend is charged to: its own tag when it has one (``tag``), else the
    predicted team (``model``); ``attributed_cost`` is the day's first-reported list cost."""
    tag = _tag(features)
    source = np.where(tag.isna(), "model", "tag").astype(object)
    team = np.where(tag.isna(), predicted["predicted_class"].astype(object), tag).astype(object)
    return pd.DataFrame(
        {
            "attributed_team": team,
            "attribution_source": source,
            "attributed_cost": _col(features, "cost_reported"),
        }
    )
