"""Every incident type is in the ground truth at every scale, and its effect shows in the Gold tables."""

import pytest

from health_monitor.simulate import INCIDENT_TYPES

SEVERITIES = {"low", "medium", "high", "critical"}


def rows(db, sql):
    return db.execute(sql).fetchall()


@pytest.mark.parametrize("fixture", ["small_account", "tiny_account"])
def test_ground_truth_covers_every_type(request, fixture):
    truth = request.getfixturevalue(fixture).ground_truth["incidents"]
    assert set(truth.column("incident_type").to_pylist()) == set(INCIDENT_TYPES)
    assert set(truth.column("severity").to_pylist()) <= SEVERITIES
    assert truth.column("incident_id").null_count == 0
    for s, e in zip(
        truth.column("start_time").to_pylist(), truth.column("end_time").to_pylist(), strict=True
    ):
        assert s < e
    expected = {
        "incident_id",
        "incident_type",
        "domain",
        "entity_type",
        "entity_id",
        "start_time",
        "end_time",
        "severity",
        "description",
    }
    assert expected <= set(truth.column_names)


def _incidents(db, kind):
    return rows(db, f"select entity_id, start_time, end_time from incidents where incident_type = '{kind}'")


def test_runaway_job_spikes_its_cost(db):
    for job_id, start, end in _incidents(db, "cost_spike_runaway_job"):
        inside, outside = rows(
            db,
            f"""select avg(c) filter (where d >= '{start}' and d < '{end}'),
            median(c) filter (where d < '{start}') from (select usage_date d, sum(list_cost) c from fact_usage
            where job_id = '{job_id}' group by 1)""",
        )[0]
        assert inside > 4 * outside


def test_forgotten_cluster_runs_all_day_with_auto_termination_off(db):
    for cluster_id, start, end in _incidents(db, "cost_spike_forgotten_cluster"):
        hours = rows(
            db,
            f"""select sum(epoch(end_time - start_time)) / 3600 from fact_node_timeline
            where cluster_id = '{cluster_id}' and driver and start_time >= '{start}' and end_time <= '{end}'""",
        )[0][0]
        days = rows(db, f"select epoch(timestamptz '{end}' - timestamptz '{start}') / 86400")[0][0]
        # The cluster starts at its owner's usual hour on the first day, then never stops.
        assert hours > 14 * days
        assert (
            rows(
                db,
                f"select count(*) from dim_cluster where cluster_id = '{cluster_id}' and auto_termination_minutes = 0",
            )[0][0]
            == 1
        )


def test_wrong_sku_bills_all_purpose_for_the_job_runs(db):
    for job_id, start, end in _incidents(db, "cost_spike_wrong_sku"):
        n = rows(
            db,
            f"""select count(*) from fact_usage u join dim_cluster c using (cluster_id)
            where c.cluster_name like 'job-{job_id}-run-%' and u.billing_origin_product = 'ALL_PURPOSE'
            and u.usage_start_time >= '{start}' and u.usage_start_time < '{end}' and u.job_id is null""",
        )[0][0]
        assert n > 0


def test_budget_overrun_exceeds_the_monthly_budget(db):
    for ws, start, _end in _incidents(db, "budget_overrun"):
        spend, budget = rows(
            db,
            f"""select (select sum(list_cost) from fact_usage where workspace_id = '{ws}'
              and date_trunc('month', usage_date) = date_trunc('month', timestamptz '{start}')),
            (select commit_amount_usd from commit_configurations where workspace_id = '{ws}'
              and period_start = date_trunc('month', timestamptz '{start}'))""",
        )[0]
        assert spend > budget
    # Other workspace-months stay within budget.
    over = rows(
        db,
        """select count(*) from commit_configurations b join (select workspace_id,
        date_trunc('month', usage_date) m, sum(list_cost) c from fact_usage group by 1, 2) s
        on b.workspace_id = s.workspace_id and b.period_start = s.m
        where s.c > b.commit_amount_usd and b.workspace_id not in
        (select entity_id from incidents where incident_type = 'budget_overrun')""",
    )[0][0]
    assert over == 0


def test_compromised_user_logs_in_off_hours_from_a_new_ip(db):
    for email, start, end in _incidents(db, "compromised_user"):
        new_ips, reads, grants = rows(
            db,
            f"""select
            count(distinct source_ip_address) filter (where source_ip_address not in (select source_ip_address
                from fact_audit_logs where user_identity_email = '{email}' and event_time < '{start}')),
            count(*) filter (where action_name in ('getTable', 'generateTemporaryTableCredential')),
            count(*) filter (where action_name = 'updatePermissions' and request_params['changes'] like '%{email}%')
            from fact_audit_logs where user_identity_email = '{email}' and event_time >= '{start}' and event_time < '{end}'""",
        )[0]
        usual_reads = (
            rows(
                db,
                f"""select max(n) from (select event_date, count(*) n from fact_audit_logs
            where user_identity_email = '{email}' and event_time < '{start}'
            and action_name in ('getTable', 'generateTemporaryTableCredential') group by 1)""",
            )[0][0]
            or 0
        )
        assert new_ips >= 1 and grants >= 1 and reads > 5 * max(usual_reads, 1)


def test_job_failure_burst_fails_most_runs(db):
    for job_id, start, end in _incidents(db, "job_failure_burst"):
        inside, before = rows(
            db,
            f"""select avg((result_state <> 'SUCCEEDED')::int) filter (where period_end_time >= '{start}' and period_end_time < '{end}'),
            avg((result_state <> 'SUCCEEDED')::int) filter (where period_end_time < '{start}')
            from fact_job_run_timeline where job_id = '{job_id}' and result_state is not null""",
        )[0]
        assert inside > 0.4 and inside > 3 * (before or 0.01)


def test_duration_regression_and_sla_breach(db):
    for job_id, start, end in _incidents(db, "job_duration_regression"):
        inside, before = rows(
            db,
            f"""with r as (select run_id, min(period_start_time) s, sum(epoch(period_end_time - period_start_time)) d,
            max(result_state) st from fact_job_run_timeline where job_id = '{job_id}' group by 1)
            select median(d) filter (where s >= '{start}' and s < '{end}' and st = 'SUCCEEDED'),
                   median(d) filter (where s < '{start}' and st = 'SUCCEEDED') from r""",
        )[0]
        assert inside > 1.8 * before
    for job_id, start, end in _incidents(db, "sla_breach"):
        late = rows(
            db,
            f"""with r as (select run_id, max(period_end_time) e from fact_job_run_timeline
            where job_id = '{job_id}' and period_start_time >= '{start}' and period_start_time < '{end}' group by 1)
            select count(*) filter (where e > date_trunc('day', e) + to_hours(s.sla_end_hour_utc)), count(*)
            from r, dim_job_sla s where s.job_id = '{job_id}'""",
        )[0]
        assert late[1] > 0 and late[0] >= late[1] // 2


def test_warehouse_incidents_show_in_queries_and_config(db):
    for wh, start, end in _incidents(db, "warehouse_undersized"):
        inside, before = rows(
            db,
            f"""select avg(waiting_at_capacity_duration_ms + execution_duration_ms) filter (where start_time >= '{start}' and start_time < '{end}'),
            avg(waiting_at_capacity_duration_ms + execution_duration_ms) filter (where start_time < '{start}')
            from fact_query_history where warehouse_id = '{wh}'""",
        )[0]
        assert inside > 3 * before
        assert (
            rows(db, f"select count(distinct warehouse_size) from dim_warehouse where warehouse_id = '{wh}'")[
                0
            ][0]
            == 2
        )
    for wh, start, end in _incidents(db, "warehouse_oversized"):
        inside, before = rows(
            db,
            f"""select avg(q) filter (where d >= '{start}' and d < '{end}'), avg(q) filter (where d < '{start}')
            from (select usage_date d, sum(usage_quantity) q from fact_usage where warehouse_id = '{wh}' group by 1)""",
        )[0]
        assert inside > 3 * before
    for wh, start, end in _incidents(db, "query_performance_regression"):
        inside, before = rows(
            db,
            f"""with t as (select query_source_sql_query_id q, count(*) n from fact_query_history
            where warehouse_id = '{wh}' group by 1 order by 2 desc limit 1)
            select avg(read_bytes) filter (where start_time >= '{start}' and start_time < '{end}'),
                   avg(read_bytes) filter (where start_time < '{start}')
            from fact_query_history where query_source_sql_query_id = (select q from t) and not from_result_cache""",
        )[0]
        assert inside > 4 * before


def test_quality_incidents_show_in_snapshots_and_monitoring(db):
    for table, start, _end in _incidents(db, "breaking_schema_change"):
        cat, sch, name = table.split(".")
        before, after = rows(
            db,
            f"""select
            (select list(column_name || ':' || data_type order by ordinal_position) from information_schema_columns_snapshot
              where table_catalog = '{cat}' and table_schema = '{sch}' and table_name = '{name}' and snapshot_date = date '{start}' - 1),
            (select list(column_name || ':' || data_type order by ordinal_position) from information_schema_columns_snapshot
              where table_catalog = '{cat}' and table_schema = '{sch}' and table_name = '{name}' and snapshot_date = date '{start}')""",
        )[0]
        assert before != after and len(after) <= len(before)
        # Jobs reading the table fail that day.
        readers_failed = rows(
            db,
            f"""select count(*) from fact_job_run_timeline r join fact_table_lineage l
            on l.entity_run_id = r.run_id where l.source_table_full_name = '{table}' and r.result_state = 'FAILED'
            and r.period_end_time >= '{start}' and r.period_end_time < timestamptz '{start}' + interval 1 day""",
        )[0][0]
        assert readers_failed > 0
    for table, start, end in _incidents(db, "late_data"):
        bad = rows(
            db,
            f"""select count(*) filter (where freshness_status = 'Unhealthy'), count(*) from fact_data_quality_monitoring_table_results
            where table_full_name = '{table}' and event_time >= '{start}' and event_time < '{end}'""",
        )[0]
        assert bad[0] >= 1
    for table, start, end in _incidents(db, "quality_degradation"):
        bad = rows(
            db,
            f"""select count(*) filter (where completeness_status = 'Unhealthy'), count(*) from fact_data_quality_monitoring_table_results
            where table_full_name = '{table}' and event_time >= '{start}' and event_time < '{end}'""",
        )[0]
        assert bad[0] >= bad[1] - 1


def test_an_incident_rich_account_has_more_incidents_of_every_type_each_on_its_own_entity(tiny_config):
    """``incidents=N`` multiplies each type's count (up to the entities eligible for it), for
    measuring detectors per incident type; the default account is unchanged."""
    import collections
    import dataclasses

    from health_monitor.simulate import simulate_account

    def counts(config):
        truth = simulate_account(config).ground_truth["incidents"]
        types = truth.column("incident_type").to_pylist()
        pairs = list(zip(types, truth.column("entity_id").to_pylist(), strict=True))
        return collections.Counter(types), pairs

    base, _ = counts(tiny_config)
    rich, pairs = counts(dataclasses.replace(tiny_config, incidents=6))
    assert set(rich) == set(INCIDENT_TYPES)
    assert all(rich[t] >= base[t] for t in INCIDENT_TYPES), (base, rich)
    assert sum(rich.values()) >= 3 * sum(base.values()), (base, rich)
    assert len(set(pairs)) == len(pairs)  # no entity has two incidents of one type
    assert counts(dataclasses.replace(tiny_config, incidents=None))[0] == base
