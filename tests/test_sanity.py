"""Value rules: well-typed but absurd rows are refused, quarantined or warned about, per rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from health_monitor.errors import ConfigError
from health_monitor.system.sanity import RULE_NAMES, SanityError, parse_policies, screen

TODAY = dt.date(2026, 11, 30)
UTC = dt.timezone.utc


def _ts(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _usage(**changes) -> pa.Table:
    """Ten sane billing rows; ``changes`` maps a column to {row: value}."""
    n = 10
    columns = {
        "record_id": [f"r{i}" for i in range(n)],
        "record_type": ["ORIGINAL"] * (n - 1) + ["RETRACTION"],
        "usage_quantity": [Decimal(i + 1) for i in range(n - 1)] + [Decimal(-1)],
        "usage_start_time": [_ts(2026, 11, 1 + i) for i in range(n)],
        "usage_end_time": [_ts(2026, 11, 1 + i, 1) for i in range(n)],
        "usage_date": [dt.date(2026, 11, 1 + i) for i in range(n)],
        "list_price": [0.5] * n,
        "statement_text": ["select 1"] * n,
    }
    for column, rows in changes.items():
        for row, value in rows.items():
            columns[column][row] = value
    types = {
        "usage_quantity": pa.decimal128(38, 18),
        "usage_start_time": pa.timestamp("us", tz="UTC"),
        "usage_end_time": pa.timestamp("us", tz="UTC"),
    }
    return pa.table({c: pa.array(v, types.get(c)) for c, v in columns.items()})


def _caught(table: pa.Table, **policies) -> tuple[list[str], dict]:
    result = screen(
        {"t": table}, policies=parse_policies([f"{k}={v}" for k, v in policies.items()]), today=TODAY
    )
    return result.tables["t"]["record_id"].to_pylist(), {rule: n for (_, rule), n in result.counts.items()}


CASES = {
    "year 0001": ("date_range", {"usage_start_time": {2: _ts(1, 1, 1)}}),
    "year 2500": ("date_range", {"usage_end_time": {2: _ts(2500, 1, 1)}}),
    "year 2099 date": ("date_range", {"usage_date": {2: dt.date(2099, 1, 1)}}),
    "ends before it starts": ("end_before_start", {"usage_end_time": {2: _ts(2026, 10, 1)}}),
    "NaN": ("not_finite", {"list_price": {2: float("nan")}}),
    "infinity": ("not_finite", {"list_price": {2: float("inf")}}),
    "negative ORIGINAL quantity": ("negative_original", {"usage_quantity": {2: Decimal(-5)}}),
    "10 MB text": ("long_string", {"statement_text": {2: "x" * 10_000_000}}),
    "long identifier": ("long_string", {"record_id": {2: "r" * 2000}}),
    "bidi override in an id": ("identifier_chars", {"record_id": {2: "r\u202e2"}}),
    "control character in an id": ("identifier_chars", {"record_id": {2: "r\x002"}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_quarantines_by_default_and_refuses_on_request(case):
    rule, changes = CASES[case]
    table = _usage(**changes)
    kept, counts = _caught(table)
    assert counts == {rule: 1} and len(kept) == 9 and "r2" not in kept
    result = screen({"t": table}, today=TODAY)
    (row,) = result.quarantine.to_pylist()
    assert (row["table_name"], row["rule"]) == ("t", rule) and row["row_json"].startswith("{")
    kept, counts = _caught(table, **{rule: "warn"})
    assert counts == {rule: 1} and len(kept) == 10
    with pytest.raises(SanityError, match=rf"t\.\w+: 1 row\(s\) with .*rule {rule}.*nothing was loaded"):
        _caught(table, **{rule: "refuse"})


def test_sane_rows_pass_untouched_including_a_retraction_and_old_but_plausible_dates():
    table = _usage(usage_date={0: dt.date(2024, 1, 1)})
    kept, counts = _caught(table)
    assert counts == {} and len(kept) == 10
    assert screen({"t": table}, today=TODAY).tables["t"] is table


def test_a_date_far_before_the_columns_own_span_is_caught_even_after_1970():
    days = [dt.date(2026, 1, 1) + dt.timedelta(d) for d in range(200)] + [dt.date(1975, 1, 1)]
    result = screen({"t": pa.table({"d": days})}, today=TODAY)
    assert result.counts == {("t", "date_range"): 1} and result.tables["t"].num_rows == 200


def test_a_row_caught_twice_is_counted_and_kept_apart_once():
    table = _usage(usage_start_time={3: _ts(1, 1, 1)}, list_price={3: float("nan")})
    result = screen({"t": table}, today=TODAY)
    assert result.counts == {("t", "date_range"): 1} and result.quarantine.num_rows == 1


def test_an_empty_table_is_a_warning_or_on_request_a_refusal():
    empty = _usage().slice(0, 0)
    assert screen({"t": empty}, today=TODAY).lines() == ["t: empty_table: the table has no rows"]
    with pytest.raises(SanityError, match="t: the table has no rows"):
        screen({"t": empty}, policies=parse_policies(["empty_table=refuse"]), today=TODAY)


def test_policies_are_checked():
    assert set(parse_policies(None)) == set(RULE_NAMES)
    with pytest.raises(ConfigError, match="unknown rule 'dates'"):
        parse_policies(["dates=warn"])
    with pytest.raises(ConfigError, match="policy must be one of refuse, quarantine, warn"):
        parse_policies(["date_range=drop"])
