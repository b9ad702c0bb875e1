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
