"""The simulated Gold layer is causally coherent and shaped like the real system tables."""

import re

import pyarrow.compute as pc
import pytest


def one(db, sql):
    return db.execute(sql).fetchone()


def test_job_failure_rate_is_plausible(db):
    total, failed = one(
        db,
        """select count(*), count(*) filter (where result_state in ('FAILED','ERROR','TIMED_OUT'))
                               from fact_job_run_timeline where result_state is not null""",
    )
    assert 0.01 < failed / total < 0.08
    # Failures concentrate: some jobs fail far more often than the account.
    worst = one(
        db,
        """select max(fr) from (select job_id, avg((result_state in ('FAILED','ERROR','TIMED_OUT'))::int) fr,
                       count(*) n from fact_job_run_timeline where result_state is not null group by 1 having n >= 20)""",
    )[0]
    assert worst > 0.1


def test_hourly_slices_rule(db):
    # <= 1 hour, inside one clock hour, contiguous, outcome only on the final slice.
    assert (
        one(
            db,
            "select count(*) from fact_job_run_timeline where period_end_time - period_start_time > interval 1 hour "
            "or period_end_time <= period_start_time or date_trunc('hour', period_start_time) "
            "<> date_trunc('hour', period_end_time - interval 1 microsecond)",
        )[0]
        == 0
    )
    bad = one(
        db,
        """select count(*) from (select run_id, period_start_time, period_end_time, result_state,
        lead(period_start_time) over w nxt, row_number() over w rn, count(*) over (partition by run_id) n
        from fact_job_run_timeline window w as (partition by run_id order by period_start_time))
        where (rn < n and (nxt <> period_end_time or result_state is not null)) or (rn = n and result_state is null)""",
    )[0]
    assert bad == 0
    assert (
        one(
            db,
            "select count(*) from fact_job_task_run_timeline where period_end_time - period_start_time > interval 1 hour",
        )[0]
        == 0
    )
    assert (
        one(
            db,
            "select count(*) from fact_job_run_timeline where (result_state = 'SUCCEEDED') <> (termination_code = 'SUCCESS')",
        )[0]
        == 0
    )


def test_task_runs_fit_inside_their_job_run(db):
    assert (
        one(
            db,
            """select count(*) from (select job_run_id, min(period_start_time) s, max(period_end_time) e
        from fact_job_task_run_timeline group by 1) t join (select run_id, min(period_start_time) s, max(period_end_time) e
        from fact_job_run_timeline group by 1) r on t.job_run_id = r.run_id where t.s < r.s or t.e > r.e""",
        )[0]
        == 0
    )


def test_cost_is_quantity_times_price(db):
    assert (
        one(
            db,
            "select max(abs(list_cost - usage_quantity * list_price)) + max(abs(effective_cost - usage_quantity * effective_price)) from fact_usage",
        )[0]
        < 1e-9
    )
    # Prices are the list prices open at usage_end_time.
    assert (
        one(
            db,
            """select count(*) from fact_usage u left join fact_list_prices p on u.sku_name = p.sku_name and u.cloud = p.cloud
        and u.usage_unit = p.usage_unit and u.usage_end_time >= p.price_start_time
        and (p.price_end_time is null or u.usage_end_time < p.price_end_time)
        where p.sku_name is null or abs(p.pricing_effective_list_default - u.list_price) > 1e-12""",
        )[0]
        == 0
    )
    assert (
        one(
            db,
            "select count(distinct list_price) from fact_usage where sku_name like 'PREMIUM_JOBS_SERVERLESS%'",
        )[0]
        == 2
    )


def test_job_usage_reconciles_with_runs(db):
    # Job-compute DBUs = run hours x nodes x DBU rate; per run, billing equals the node timeline.
    rows = db.execute("""with billed as (select job_run_id, any_value(cluster_id) cluster_id, sum(usage_quantity) q,
            any_value(node_type) nt, bool_or(sku_name like '%PHOTON%') photon
            from fact_usage where job_run_id is not null and cluster_id is not null group by 1),
        nodes as (select cluster_id, sum(epoch(end_time - start_time)) / 3600 node_hours from fact_node_timeline group by 1)
        select b.q, n.node_hours, b.nt, b.photon from billed b join nodes n using (cluster_id)""").fetchall()
    rate = {
        "m5d.xlarge": 0.69,
        "m5d.2xlarge": 1.37,
        "i3.xlarge": 1.0,
        "i3.2xlarge": 2.0,
        "r5d.xlarge": 0.9,
        "r5d.2xlarge": 1.8,
        "c5d.2xlarge": 1.2,
    }
    assert len(rows) > 100
    for q, node_hours, nt, photon in rows:
        assert q == pytest.approx(
            node_hours * rate[nt] * (2 if photon else 1), rel=1e-4, abs=1e-5
        )  # 6-decimal rounding
    # Usage hours of a run equal the run's timeline duration (corrections net out by sign).
    assert (
        one(
            db,
            """select count(*) from (select job_run_id, sum(sign(usage_quantity) * epoch(usage_end_time - usage_start_time)) s
        from fact_usage where job_run_id is not null group by 1) u
        join (select run_id, sum(epoch(period_end_time - period_start_time)) s from fact_job_run_timeline group by 1) r
        on u.job_run_id = r.run_id where abs(u.s - r.s) > 1e-3""",
        )[0]
        == 0
    )


def test_all_purpose_usage_reconciles_with_uptime(db):
    rows = db.execute("""select u.q, n.h from (select cluster_id, sum(usage_quantity) q from fact_usage
        where billing_origin_product = 'ALL_PURPOSE' group by 1) u join (select cluster_id, sum(epoch(end_time - start_time)) / 3600 h
        from fact_node_timeline group by 1) n using (cluster_id)""").fetchall()
    assert rows and all(q > 0 and h > 0 for q, h in rows)
    ratios = [q / h for q, h in rows]
    assert min(ratios) >= 0.69 - 1e-6 and max(ratios) <= 4.0 + 1e-6  # per node-hour DBU rates x photon


def test_warehouse_usage_follows_running_intervals(db):
    # Integrate cluster_count over RUNNING..STOPPING from the events; compare with billed DBUs / size rate.
    rows = db.execute("""with ev as (select warehouse_id, event_type, cluster_count, event_time,
            lead(event_time) over (partition by warehouse_id order by event_time) nxt from fact_warehouse_events),
        running as (select warehouse_id, sum(cluster_count * epoch(nxt - event_time)) / 3600 ch from ev
            where event_type in ('RUNNING', 'SCALED_UP', 'SCALED_DOWN') group by 1),
        billed as (select warehouse_id, sum(usage_quantity) q, sum(epoch(usage_end_time - usage_start_time)) / 3600 h
            from fact_usage where warehouse_id is not null and record_type = 'ORIGINAL' group by 1)
        select r.ch, b.q from running r join billed b using (warehouse_id)""").fetchall()
    assert rows
    sizes = (4.0, 6.0, 12.0, 24.0, 40.0, 80.0, 144.0, 272.0, 528.0)
    for ch, q in rows:
        # DBU per cluster-hour is one of the size rates (sizes change only with incidents).
        assert sizes[0] * 0.99 <= q / ch <= sizes[-1] * 1.01


def test_weekday_usage_exceeds_weekend(db):
    wd, we = one(
        db,
        """select avg(c) filter (where dow not in (0, 6)), avg(c) filter (where dow in (0, 6)) from
        (select usage_date, dayofweek(usage_date) dow, sum(list_cost) c from fact_usage group by 1, 2)""",
    )
    assert wd > 1.2 * we


def test_memory_pressure_raises_failures(db):
    hi, lo = one(
        db,
        """with m as (select cluster_id, max(mem_used_percent) mx from fact_node_timeline group by 1),
        r as (select run_id, any_value(cluster_id) cluster_id, max(result_state) rs from fact_job_run_timeline group by 1)
        select avg((rs in ('FAILED','ERROR','TIMED_OUT'))::int) filter (where mx > 90),
               avg((rs in ('FAILED','ERROR','TIMED_OUT'))::int) filter (where mx < 80) from r join m using (cluster_id)""",
    )
    assert hi > 2 * lo


def test_memory_climbs_until_the_job_is_given_more(db):
    # A memory-hungry job's runs peak higher day after day until its owner edits the job; the
    # runs after the edit peak lower. Compared: each edit's 4 days before and 4 days after.
    before, after, edits = one(
        db,
        """with r as (select t.job_id, t.run_id, any_value(t.cluster_id) cluster_id,
                min(t.period_start_time) started from fact_job_run_timeline t group by 1, 2),
        m as (select cluster_id, max(mem_used_percent) mx from fact_node_timeline group by 1),
        runs as (select job_id, started, mx from r join m using (cluster_id)),
        hungry as (select job_id from runs group by 1 having avg(mx) > 70),
        e as (select job_id, change_time from dim_job where change_time > create_time and delete_time is null
              and job_id in (select job_id from hungry))
        select avg(mx) filter (where started < change_time), avg(mx) filter (where started > change_time),
               count(distinct (e.job_id, change_time))
        from e join runs using (job_id)
        where started between change_time - interval 4 day and change_time + interval 4 day""",
    )
    assert edits >= 1
    assert before > after + 5


def test_query_time_follows_bytes_size_and_cache(db):
    cache, nocache = one(
        db,
        """select avg(total_duration_ms) filter (where from_result_cache),
        avg(total_duration_ms) filter (where not from_result_cache) from fact_query_history""",
    )
    assert cache < nocache / 10
    corr = one(
        db,
        "select corr(ln(read_bytes + 1), ln(execution_duration_ms + 1)) from fact_query_history where not from_result_cache",
    )[0]
    assert corr > 0.5
    assert (
        one(
            db,
            "select count(*) from fact_query_history where total_duration_ms <> waiting_for_compute_duration_ms "
            "+ waiting_at_capacity_duration_ms + compilation_duration_ms + execution_duration_ms",
        )[0]
        == 0
    )


ID_FORMATS = {
    ("dim_workspace", "workspace_id"): r"^\d{15,16}$",
    ("dim_cluster", "cluster_id"): r"^\d{4}-\d{6}-[a-z0-9]{8}$",
    ("dim_warehouse", "warehouse_id"): r"^[0-9a-f]{16}$",
    ("dim_job", "job_id"): r"^\d{1,16}$",
    ("fact_job_run_timeline", "run_id"): r"^\d{1,16}$",
    (
        "fact_query_history",
        "statement_id",
    ): r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    ("fact_usage", "record_id"): r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    ("fact_audit_logs", "event_id"): r"^[0-9a-f]{32}$",
    ("fact_node_timeline", "instance_id"): r"^i-[0-9a-f]{17}$",
    ("fact_query_history", "executed_by"): r"^([a-z]+\.[a-z]+\d+@acme-corp\.com|[0-9a-f-]{36})$",
    ("fact_audit_logs", "source_ip_address"): r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$",
}


@pytest.mark.parametrize(("table", "column"), list(ID_FORMATS))
def test_id_formats(small_account, table, column):
    values = small_account.gold[table].column(column).drop_null()
    assert len(values) > 0
    assert pc.all(pc.match_substring_regex(values, ID_FORMATS[(table, column)])).as_py(), [
        v for v in values.to_pylist() if not re.match(ID_FORMATS[(table, column)], v)
    ][:3]


ORPHANS = [
    ("fact_job_run_timeline", "job_id", "dim_job", "job_id"),
    ("fact_job_task_run_timeline", "job_run_id", "fact_job_run_timeline", "run_id"),
    ("fact_usage", "job_id", "dim_job", "job_id"),
    ("fact_usage", "job_run_id", "fact_job_run_timeline", "run_id"),
    ("fact_usage", "cluster_id", "dim_cluster", "cluster_id"),
    ("fact_usage", "warehouse_id", "dim_warehouse", "warehouse_id"),
    ("fact_usage", "sku_name", "dim_sku", "sku_name"),
    ("fact_usage", "sku_name", "fact_list_prices", "sku_name"),
    ("fact_query_history", "warehouse_id", "dim_warehouse", "warehouse_id"),
    ("fact_warehouse_events", "warehouse_id", "dim_warehouse", "warehouse_id"),
    ("fact_node_timeline", "cluster_id", "dim_cluster", "cluster_id"),
    ("fact_job_run_timeline", "cluster_id", "dim_cluster", "cluster_id"),
    ("dim_job_sla", "job_id", "dim_job", "job_id"),
    ("fact_query_history", "query_source_job_id", "dim_job", "job_id"),
    ("fact_data_quality_monitoring_table_results", "upstream_job_id", "dim_job", "job_id"),
    (
        "fact_table_lineage",
        "source_table_full_name",
        "fact_data_quality_monitoring_table_results",
        "table_full_name",
    ),
    (
        "fact_table_lineage",
        "target_table_full_name",
        "fact_data_quality_monitoring_table_results",
        "table_full_name",
    ),
] + [
    (t, "workspace_id", "dim_workspace", "workspace_id")
    for t in (
        "fact_usage",
        "fact_query_history",
        "dim_warehouse",
        "dim_job",
        "fact_job_run_timeline",
        "dim_cluster",
        "fact_node_timeline",
        "fact_table_lineage",
        "commit_configurations",
    )
]


@pytest.mark.parametrize(("fact", "fk", "dim", "pk"), ORPHANS)
def test_no_orphan_keys(db, fact, fk, dim, pk):
    assert (
        one(
            db,
            f"select count(*) from {fact} f where f.{fk} is not null and f.{fk} not in (select {pk} from {dim})",
        )[0]
        == 0
    )


def test_audit_workspaces_exist_or_are_account_level(db):
    assert (
        one(
            db,
            """select count(*) from fact_audit_logs where workspace_id not in (select workspace_id from dim_workspace)
        and not (workspace_id = '0' and audit_level = 'ACCOUNT_LEVEL')""",
        )[0]
        == 0
    )


def test_one_current_row_per_scd2_entity(db):
    for table, key in (
        ("dim_job", "job_id"),
        ("dim_cluster", "cluster_id"),
        ("dim_warehouse", "warehouse_id"),
        ("dim_workspace", "workspace_id"),
    ):
        assert (
            one(
                db,
                f"select count(*) from (select {key} from {table} group by 1 having sum(is_current::int) <> 1)",
            )[0]
            == 0
        )
    # Runtime upgrades show as cluster versions over time.
    assert (
        one(
            db,
            "select count(*) from (select cluster_id from dim_cluster group by 1 having count(distinct dbr_version) > 1)",
        )[0]
        > 0
    )


def test_corrections_net_out(db):
    assert (
        one(db, "select count(*) from fact_usage where record_type = 'RETRACTION' and usage_quantity >= 0")[0]
        == 0
    )
    assert one(db, "select count(*) from fact_usage where record_type <> 'ORIGINAL'")[0] > 0
