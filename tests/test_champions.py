"""Champions score live what ``infer`` wrote in batch, and a moved feature table is read again."""

from __future__ import annotations

import dataclasses
import math
import types

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.errors import ModelLoadError
from health_monitor.serving import scoring
from health_monitor.serving.online import MISSING, OnlineStore
from health_monitor.serving.scoring import Champions


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

    def read_arrow(self, name, columns=None, filters=None):
        table = self.moved.get(name) or self.real.read_arrow(name, columns)
        return table.select(columns) if columns else table


def same(a: dict, b: dict) -> bool:
    assert a.keys() <= b.keys(), (a, b)
    return all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=1e-9))
        for x, y in ((a[k], b[k]) for k in a)
    )


@pytest.mark.parametrize("model", ["fake_failure", "fake_anomaly"])
def test_live_scores_are_the_rows_infer_wrote(fake_trained_home, model):
    """What an ``as_of`` request or a miss is answered with equals the batch score of the same
    base row (its keys and lookup times): one model, two paths, the same answer."""
    runtime, host = fake_trained_home
    champions = Champions(runtime, host)
    spec = champions.spec(model)
    predictions = champions.store.table(runtime.settings.predictions(model)).frame
    for _, row in predictions.iloc[:: max(1, len(predictions) // 25)].iterrows():
        base = {c: row[c] for c in spec.base_columns}
        live = champions.score(model, base)
        assert same(live, {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}), (model, base)


def test_an_unknown_entity_resolves_to_missing(fake_trained_home):
    runtime, host = fake_trained_home
    champions = Champions(runtime, host)
    spec = champions.get("fake_failure").feature_spec
    assert champions.store.resolve(spec, {"entity": "nobody"})[1] == (MISSING,)
    assert champions.store.resolve(spec, {"entity": "e1"}, "1999-01-01")[1] == (MISSING,)


def test_a_moved_feature_table_is_read_again(fake_trained_home):
    runtime, host = fake_trained_home
    lakehouse = MovableLakehouse(runtime.lakehouse)
    champions = Champions(runtime, host, store=OnlineStore(lakehouse, refresh_seconds=0))
    name = runtime.settings.feature_table("fake_features")
    before = champions.score("fake_failure", {"entity": "e1"})
    arrow = runtime.lakehouse.read_arrow(name)
    lakehouse.move(
        name, arrow.set_column(arrow.schema.get_field_index("value"), "value", pc.add(arrow["value"], 50.0))
    )
    after = champions.score("fake_failure", {"entity": "e1"})
    assert after["probability"] > before["probability"]  # failures follow hot days
    assert champions.store.table(name).version == runtime.lakehouse.version(name) + 1


def test_a_champion_that_cannot_load_is_tried_again_only_when_its_check_is_due(
    fake_trained_home, monkeypatch
):
    """Every caller (endpoints, agent tools, explain, findings) gets the same error without a new
    load until ``REFRESH_SECONDS`` have passed; then the model is loaded again."""
    runtime, host = fake_trained_home
    champions = Champions(runtime, host)
    clock = types.SimpleNamespace(monotonic=lambda: now)
    monkeypatch.setattr(scoring, "time", clock)
    now, tried, load = 1000.0, [], scoring.load_packed_model

    def broken(uri):
        tried.append(uri)
        raise ModelLoadError("model fake_failure is broken for this test")

    monkeypatch.setattr(scoring, "load_packed_model", broken)
    for _ in range(3):
        with pytest.raises(ModelLoadError, match="broken for this test") as failed:
            champions.get("fake_failure")
        assert len(list(failed.traceback)) < 5  # the kept error does not grow a frame per raise
    assert len(tried) == 1
    monkeypatch.setattr(scoring, "load_packed_model", load)
    now += scoring.REFRESH_SECONDS - 1
    with pytest.raises(ModelLoadError):
        champions.get("fake_failure")
    now += 1
    assert champions.get("fake_failure").version == 1
    with pytest.raises(Exception, match="nope"):
        champions.get("nope")  # an unknown model raises, naming it, and is not kept
    assert "nope" not in champions.loaded
