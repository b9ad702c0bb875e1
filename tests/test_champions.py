"""Champions' score cache: a cached or prefilled prediction is the live one, and a moved table
or champion is never answered from the old cache."""

from __future__ import annotations

import dataclasses
import math
import time

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.champions import Champions
from health_monitor.online import MISSING, OnlineStore


class MovableLakehouse:
    """The real lakehouse, except that one table can be replaced by a newer version."""

    def __init__(self, real):
        self.real = real
        self.moved: dict[str, pa.Table] = {}

    def move(self, name: str, table: pa.Table) -> None:
        self.moved[name] = table

    def exists(self, name):
        return self.real.exists(name)

    def version(self, name):
        return self.real.version(name) + (1 if name in self.moved else 0)

    def describe(self, name):
        info = self.real.describe(name)
        return dataclasses.replace(info, version=self.version(name)) if name in self.moved else info

    def read_arrow(self, name, columns=None):
        table = self.moved.get(name) or self.real.read_arrow(name, columns)
        return table.select(columns) if columns else table


def same(a: dict, b: dict) -> bool:
    assert a.keys() == b.keys(), (a, b)
    return all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=1e-12))
        for x, y in ((a[k], b[k]) for k in a)
    )


def entities(runtime, model):
    store = OnlineStore(runtime.lakehouse)
    frame = store.table(runtime.settings.predictions(model)).frame
    return frame.drop_duplicates("entity")[["entity", "day"]].astype(str).to_dict("records")


@pytest.mark.parametrize("model", ["fake_failure", "fake_anomaly"])
def test_cached_and_prefilled_scores_are_the_live_ones(fake_trained_home, model):
    runtime, host = fake_trained_home
    champions = Champions(runtime, host)
    rows = champions.prefill(model)
    table = champions.store.table(runtime.settings.feature_table("fake_features"))
    assert rows == len(table.frame)  # both models look up one table
    for keys in entities(runtime, model):
        base = {"entity": keys["entity"]} if model == "fake_failure" else keys
        for at in (None, "2026-01-10"):
            cached = champions.score(model, base, at)
            assert same(cached, champions.score(model, base, at, cached=False)), (model, base, at)
    for positions, scored in list(champions._scores[model].by_positions.items()):
        pytest.fail(f"a prefilled model scored {positions} live: {scored}")


def test_an_unknown_entity_resolves_to_missing(fake_trained_home):
    runtime, host = fake_trained_home
    champions = Champions(runtime, host)
    champion = champions.get("fake_failure")
    assert champions.resolve(champion, {"entity": "nobody"})[1] == (MISSING,)
    assert champions.resolve(champion, {"entity": "e1"}, "1999-01-01")[1] == (MISSING,)


def prefilled_over_a_movable_lakehouse(fake_trained_home, refresh_seconds: float):
    """Champions prefilled over a lakehouse whose feature table can move: (champions, move,
    score of e1 before, stamp after the move). ``move()`` makes every day 50 hotter."""
    runtime, host = fake_trained_home
    lakehouse = MovableLakehouse(runtime.lakehouse)
    champions = Champions(runtime, host, store=OnlineStore(lakehouse, refresh_seconds=refresh_seconds))
    name = runtime.settings.feature_table("fake_features")
    champions.prefill("fake_failure")
    before = champions.score("fake_failure", {"entity": "e1"})
    arrow = runtime.lakehouse.read_arrow(name)
    hot = arrow.set_column(arrow.schema.get_field_index("value"), "value", pc.add(arrow["value"], 50.0))
    moved_stamp = (champions.get("fake_failure").version, (runtime.lakehouse.version(name) + 1,))
    return champions, lambda: lakehouse.move(name, hot), before, moved_stamp


def test_a_moved_feature_table_is_never_answered_from_the_old_cache(fake_trained_home):
    champions, move, before, moved_stamp = prefilled_over_a_movable_lakehouse(fake_trained_home, 0)
    move()
    after = champions.score("fake_failure", {"entity": "e1"})
    assert same(after, champions.score("fake_failure", {"entity": "e1"}, cached=False))
    assert after["probability"] > before["probability"]  # failures follow hot days
    assert champions._scores["fake_failure"].stamp == moved_stamp


def test_background_refresh_swaps_in_a_moved_table_and_prefills_it_again(fake_trained_home):
    champions, move, before, moved_stamp = prefilled_over_a_movable_lakehouse(fake_trained_home, 0.1)
    stop = champions.start_refresh(interval=0.1)
    try:
        move()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            scores = champions._scores.get("fake_failure")
            if scores is not None and scores.stamp == moved_stamp and scores.columns is not None:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the moved table was not prefilled again in the background")
        after = champions.score("fake_failure", {"entity": "e1"})
        assert same(after, champions.score("fake_failure", {"entity": "e1"}, cached=False))
        assert after["probability"] > before["probability"]
    finally:
        stop.set()
