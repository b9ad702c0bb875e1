"""A billed resource that no dimension table names takes its workspace and owner from its first
billed record, whatever order the billing rows come in and however they are partitioned."""

import datetime as dt

from health_monitor.testing.pointintime import GoldTables
from health_monitor_cost.resource_features import resources

USAGE = (
    "workspace_id string, job_id string, warehouse_id string, dlt_pipeline_id string, "
    "cluster_id string, run_as string, owned_by string, usage_start_time timestamp, "
    "list_cost double, product_features_is_serverless boolean, custom_tags map<string,string>"
)
DIMS = {
    "dim_job": "workspace_id string, job_id string, name string, creator_user_name string, "
    "change_time timestamp, create_time timestamp",
    "dim_cluster": "workspace_id string, cluster_id string, cluster_source string, cluster_name string, "
    "owned_by string, change_time timestamp, create_time timestamp",
    "dim_warehouse": "workspace_id string, warehouse_id string, warehouse_name string, created_by string, "
    "change_time timestamp",
}


def test_an_unnamed_resource_takes_the_owner_of_its_first_billed_record(spark):
    day = dt.datetime(2025, 3, 1)
    # A pipeline whose owner changed: billed by "new@x" in the later hours, listed first here.
    owners = [("new@x", 5), ("new@x", 9), (None, 0), ("old@x", 1), ("old@x", 3), ("new@x", 7)]
    rows = [
        ("w1", None, None, "p1", None, owner, None, day + dt.timedelta(hours=h), 1.0, True, {})
        for owner, h in owners
    ]
    usage = spark.createDataFrame(rows, USAGE)
    gold = {name: spark.createDataFrame([], schema) for name, schema in DIMS.items()}
    for parts in (1, 3):
        got = resources(GoldTables({**gold, "fact_usage": usage.repartition(parts)}))[0].collect()
        assert [(r["resource_id"], r["workspace_id"], r["owner"]) for r in got] == [("p1", "w1", "old@x")], (
            parts
        )


def test_a_resource_billed_under_several_workspaces_tags_and_owners_sums_them_all(spark):
    """Its workspace and owner are its earliest billed row's, its team the largest tag value, its
    cost the sum of every row, serverless if any row was."""
    day = dt.datetime(2025, 3, 1)
    billed = [  # workspace, owner, hour, cost, serverless, team tag
        ("w2", "b@x", 4, 1.5, False, "ops"),
        ("w1", None, 2, 2.0, False, None),  # the earliest row: w1; no owner, so the owner is b@x's
        ("w2", "a@x", 6, 0.25, True, "data"),
        ("w2", "b@x", 9, 4.0, False, "ops"),
    ]
    rows = [
        (
            ws,
            "j1",
            None,
            None,
            None,
            owner,
            None,
            day + dt.timedelta(hours=h),
            cost,
            serverless,
            {"team": t} if t else {},
        )
        for ws, owner, h, cost, serverless, t in billed
    ]
    usage = spark.createDataFrame(rows, USAGE)
    gold = {name: spark.createDataFrame([], schema) for name, schema in DIMS.items()}
    for parts in (1, 3):
        (got,) = resources(GoldTables({**gold, "fact_usage": usage.repartition(parts)}))[0].collect()
        assert (got["workspace_id"], got["owner"], got["team"], got["total_cost"], got["is_serverless"]) == (
            "w1",
            "b@x",
            "ops",
            7.75,
            1,
        ), parts
        assert got["created"] == day + dt.timedelta(hours=2), parts
