"""Tables.shared: a frame that several items of a stage derive alike is computed once."""

from pyspark.sql import functions as F

from health_monitor.lakehouse import shared as module
from health_monitor.lakehouse.shared import shared, sharing


def _runs(spark, rows: int):
    """A derived frame; built twice with the same ``rows``, the same plan."""
    return spark.range(rows).groupBy((F.col("id") % 2).alias("job_id")).agg(F.sum("id").alias("n"))


def test_within_a_stage_one_plan_is_cached_once_and_dropped_at_the_end(spark):
    rows = 5
    with sharing():
        first = shared(_runs(spark, rows))
        again = shared(_runs(spark, rows))  # built anew, the same plan
        other = shared(_runs(spark, 3))  # other rows: another plan
        assert again is first and other is not first
        assert first.storageLevel.useMemory and len(module._frames) == 2
        assert sorted(map(tuple, again.collect())) == [(0, 6), (1, 4)]
    assert module._frames is None
    assert not first.storageLevel.useMemory and not first.storageLevel.useDisk  # unpersisted
    outside = _runs(spark, rows)
    assert shared(outside) is outside  # no stage: the frame as it is


def test_a_nested_stage_shares_with_the_outer_one_and_an_error_still_drops_the_frames(spark):
    rows = 4
    try:
        with sharing():
            first = shared(_runs(spark, rows))
            with sharing():
                assert shared(_runs(spark, rows)) is first
            assert module._frames == [first]  # the inner stage left them to the outer
            raise RuntimeError("an item failed")
    except RuntimeError:
        pass
    assert module._frames is None and not first.storageLevel.useMemory
