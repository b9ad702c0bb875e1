"""user_activity_profile asked for the rows from a day on (a daily run): it reads the audit log
of the 28 days before that day only, its all-time figures go on from each user's latest stored
row, and every row equals the whole computation's."""

import datetime as dt

import pytest

from health_monitor.sdk.featurekit import latest_stored
from health_monitor.testing.pointintime import GoldTables, rows_from_differ
from health_monitor_security.profile import (
    CARRIED,
    PROFILE_DAYS,
    USER_ACTIVITY_PROFILE,
    user_activity_profile,
)

START = dt.date(2025, 1, 1)
DAYS = 70
TABLE = "user_activity_profile"


def _date(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def _events() -> list[tuple]:
    """``steady`` is active on days 0-10, then every third day; ``quiet`` on days 0-5 only (it has
    a row every later day, with no event in any window after day 33); ``new`` from day 45 and
    ``late`` from day 60 (no stored row before the cuts at 45-56); the system user is left out."""
    rows = []

    def active(user: str, day: int, events: int) -> None:
        rows.extend((user, _date(day), dt.datetime.combine(_date(day), dt.time(9, k))) for k in range(events))

    for d in range(DAYS):
        if d <= 10 or d % 3 == 0:
            active("steady@example.com", d, 1 + d % 4)
        if d <= 5:
            active("quiet@example.com", d, 2)
        if d >= 45 and d % 2 == 1:
            active("new@example.com", d, 3)
        if d >= 60:
            active("late@example.com", d, 1)
        active("System-User", d, 5)
    return rows


@pytest.fixture(scope="module")
def gold(spark):
    audit = spark.createDataFrame(
        _events(), "user_identity_email string, event_date date, event_time timestamp"
    )
    return {"fact_audit_logs": audit}


@pytest.fixture(scope="module")
def whole(gold):
    return user_activity_profile(GoldTables(gold)).cache()


def test_the_whole_computation_is_dense_and_counts_every_active_day(whole):
    rows = whole.toPandas().set_index(["user_id", "event_date"])
    quiet = rows.loc["quiet@example.com"]
    assert len(quiet) == DAYS  # a row every day from its first to the last day seen
    assert quiet.loc[_date(DAYS - 1), "active_days_total"] == 6
    assert quiet.loc[_date(DAYS - 1), "last_active_events"] == 2
    assert "System-User" not in rows.index.get_level_values(0)


@pytest.mark.parametrize("cut", [30, 45, 47, 56, 62])
def test_rows_asked_from_a_day_go_on_from_the_stored_rows(gold, whole, cut):
    """At 45 and 47 ``new`` starts inside the 28 days the windows read (stored row or not); at 62
    ``late`` has only the days since 60; ``quiet`` has had no event for more than 28 days at 45 and
    after, and still gets its rows and its all-time figures."""
    since = _date(cut)
    assert since - dt.timedelta(days=PROFILE_DAYS) > START
    stored = latest_stored(GoldTables(gold, {TABLE: whole}, since), TABLE, "user_id", "event_date", CARRIED)
    assert stored is not None  # the stored rows are used, not all of the audit log
    assert rows_from_differ(USER_ACTIVITY_PROFILE, gold, whole, since) == {}


def test_the_audit_log_before_the_windows_is_not_read(gold, whole):
    """Asked from day 56, the audit rows before day 28 do not count: dropping them changes nothing."""
    since = _date(56)
    first = since - dt.timedelta(days=PROFILE_DAYS)
    recent = {"fact_audit_logs": gold["fact_audit_logs"].where(f"event_date >= DATE'{first}'")}
    assert rows_from_differ(USER_ACTIVITY_PROFILE, recent, whole, since) == {}


def test_a_table_written_by_an_older_release_is_computed_from_the_whole_log(gold, whole):
    """A stored table without the carried columns is not carried from: the rows asked for come
    from the whole audit log, equal to the whole's."""
    since = _date(56)
    older = whole.drop(*CARRIED)
    assert (
        latest_stored(GoldTables(gold, {TABLE: older}, since), TABLE, "user_id", "event_date", CARRIED)
        is None
    )
    assert rows_from_differ(USER_ACTIVITY_PROFILE, gold, whole, since, stored=older) == {}
