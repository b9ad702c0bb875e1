"""Billing family: simulated Gold -> billing.usage / billing.list_prices -> Gold, and the real quirks."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.config import Settings
from health_monitor.gold.build.runner import build_gold
from health_monitor.simulate import catalog as C
from health_monitor.simulate.rand import stream
from health_monitor.simulate.system import account_inputs, billing, build_system, built
from health_monitor.system.inputs import AccountInputs
from health_monitor.system.reference import system_table
from tests.system.conftest import sorted_rows

TABLES = ["fact_usage", "fact_list_prices", "dim_sku", "commit_configurations"]
KEYS = {
    "fact_usage": ["record_id"],
    "fact_list_prices": ["sku_name", "cloud", "usage_unit", "price_start_time"],
    "dim_sku": ["sku_name"],
    "commit_configurations": ["commit_id"],
}
UTC = dt.timezone.utc


def _system(gold: dict[str, pa.Table], config) -> dict[str, pa.Table]:
    return built(billing.to_system(gold, stream(config.seed, "system-billing"), config))


def _write_inputs(runtime, commitments: pa.Table) -> None:
    AccountInputs(commitments, AccountInputs.empty().job_slas).write(runtime.settings.account_inputs_path)


def _gold(runtime, table: str) -> pa.Table:
    return runtime.lakehouse.read_arrow(runtime.settings.gold(table))


def _build(runtime, **kwargs):
    report = build_gold(runtime, tables=TABLES, progress=False, **kwargs)
    failed = {
        s.table: (s.status, s.error, s.notes) for s in report.steps if s.status in ("failed", "skipped")
    }
    assert not failed, failed
    return report.by_table()


def _assert_same(actual: pa.Table, expected: pa.Table, keys: list[str], table: str) -> None:
    """Value by value; doubles with a relative tolerance of 1e-9 (decimals round-trip)."""
    assert actual.column_names == expected.column_names, table
    assert actual.num_rows == expected.num_rows, table
    for got, want in zip(sorted_rows(actual, keys), sorted_rows(expected, keys), strict=True):
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] is not None and math.isclose(
                    got[column], value, rel_tol=1e-9, abs_tol=1e-12
                ), (table, column, got, want)
            else:
                assert got[column] == value, (table, column, got[column], value)


# ------------------------------------------------------------------------------ round trip


@pytest.fixture(scope="module")
def full_build(tiny_account, tiny_config, tmp_path_factory, spark):
    """The tiny account's billing system tables plus a late RESTATEMENT pair (ingested the day
    after everything else, for a usage day 16 days back), built in full in a fresh home.
    The incremental test builds the same data in two steps and compares with this home."""
    from health_monitor.runtime import Runtime

    gold = tiny_account.gold
    system = _system(gold, tiny_config)
    usage = system["billing.usage"]
    last = max(usage["ingestion_date"].to_pylist())
    late = _late_correction(usage, last - dt.timedelta(days=16), last + dt.timedelta(days=1))
    system["billing.usage"] = pa.concat_tables([usage, late])
    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("billing-full") / "home"))
    for name, table in system.items():
        runtime.lakehouse.write(runtime.settings.system(name), table)
    inputs = account_inputs(gold)  # the simulated Gold's commitments and SLAs
    inputs.write(runtime.settings.account_inputs_path)
    steps = _build(runtime, full=True)
    return {"runtime": runtime, "system": system, "last": last, "inputs": inputs, "steps": steps}


def test_round_trip_of_the_tiny_account(tiny_account, full_build):
    gold, runtime = tiny_account.gold, full_build["runtime"]
    for name, table in full_build["system"].items():
        assert table.schema.equals(system_table(name).arrow_schema()), name
    assert full_build["steps"]["fact_usage"].notes == []  # every row has an ingestion_date and a price

    built = _gold(runtime, "fact_usage")
    late = pc.starts_with(built["record_id"], "late-")
    _assert_same(built.filter(pc.invert(late)), gold["fact_usage"], KEYS["fact_usage"], "fact_usage")
    for table in ("fact_list_prices", "commit_configurations"):
        _assert_same(_gold(runtime, table), gold[table], KEYS[table], table)

    # The simulator lists every SKU of its catalog; the system tables know only the SKUs billed.
    billed = pc.unique(gold["fact_usage"]["sku_name"])
    expected_skus = gold["dim_sku"].filter(pc.is_in(gold["dim_sku"]["sku_name"], billed))
    never_billed = set(gold["dim_sku"]["sku_name"].to_pylist()) - set(billed.to_pylist())
    assert never_billed == {"PREMIUM_SQL_COMPUTE"}  # no classic warehouse in the tiny account
    _assert_same(_gold(runtime, "dim_sku"), expected_skus, KEYS["dim_sku"], "dim_sku")


def test_simulated_usage_carries_the_real_quirks(tiny_account, tiny_config):
    usage = _system(tiny_account.gold, tiny_config)["billing.usage"]
    assert usage.schema.field("usage_quantity").type == pa.decimal128(38, 18)
    meta = usage["usage_metadata"].combine_chunks()
    product = usage["billing_origin_product"]
    ap = pc.equal(product, "ALL_PURPOSE")
    # Jobs on all-purpose compute bill to the cluster without job ids (the Gold has none there).
    assert pc.sum(pc.is_valid(pc.filter(meta.field("job_id"), ap))).as_py() in (0, None)
    assert pc.all(pc.is_valid(pc.filter(meta.field("cluster_id"), ap))).as_py()
    # Job compute has no job_name before Sep 2025; serverless jobs have it.
    serverless = usage["product_features"].combine_chunks().field("is_serverless")
    jobs = pc.and_(pc.equal(product, "JOBS"), pc.is_valid(meta.field("job_id")))
    names = pc.is_valid(meta.field("job_name"))
    assert pc.all(pc.equal(pc.filter(names, jobs), pc.filter(pc.fill_null(serverless, False), jobs))).as_py()
    assert pc.all(
        pc.is_valid(
            pc.filter(usage["identity_metadata"].combine_chunks().field("owned_by"), pc.equal(product, "SQL"))
        )
    ).as_py()

    # Corrections: each RETRACTION negates a record of the same usage, and the sums net to the
    # RESTATEMENT (or to the one original left of a duplicated pair).
    gold = tiny_account.gold["fact_usage"].to_pandas()
    ident = [
        "workspace_id",
        "sku_name",
        "usage_start_time",
        "cluster_id",
        "job_run_id",
        "warehouse_id",
        "dlt_pipeline_id",
        "endpoint_name",
    ]
    gold[ident] = gold[ident].fillna("")
    corrected = gold[gold.record_type == "RETRACTION"][ident].drop_duplicates()
    assert len(corrected) > 0
    groups = gold.merge(corrected, on=ident).groupby(ident)
    for _, g in groups:
        retraction = g[g.record_type == "RETRACTION"].usage_quantity.iloc[0]
        assert (np.isclose(g[g.record_type == "ORIGINAL"].usage_quantity, -retraction)).any()
        restated = g[g.record_type == "RESTATEMENT"].usage_quantity
        net = restated.iloc[0] if len(restated) else g[g.record_type == "ORIGINAL"].usage_quantity.iloc[0]
        assert math.isclose(g.usage_quantity.sum(), net, rel_tol=1e-9)
        # Corrections land later than the first original (the simulator's duplicated originals can
        # land after the retraction of one of them).
        assert (
            g[g.record_type != "ORIGINAL"].ingestion_date
            >= g[g.record_type == "ORIGINAL"].ingestion_date.min()
        ).all()

    # The simulator's price change: both periods are billed, each at its own price.
    sku = C.SKUS[C.PRICE_CHANGE_SKU][0]
    prices = gold[gold.sku_name == sku].list_price.round(6).unique()
    assert sorted(prices) == [C.PRICE_BEFORE_CHANGE, C.SKUS[C.PRICE_CHANGE_SKU][5]]


# ------------------------------------------------------------------------------ hand-written quirks

ACCOUNT = "23e22ba4-87b9-4cc2-9770-d10b894b7118"
WS = "1234567890123456"
SKU_JOBS = "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"
SKU_AP = "PREMIUM_ALL_PURPOSE_COMPUTE"
SKU_AGENT = "PREMIUM_SUPERVISOR_AGENT_SERVERLESS_US_EAST_N_VIRGINIA"
SKU_EGRESS = "INTERNET_EGRESS_FROM_US_EAST_N_VIRGINIA"
CHANGE = dt.datetime(2025, 3, 10, 10, tzinfo=UTC)


def _t(day: int, hour: int, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, tzinfo=UTC) + dt.timedelta(hours=hour)


def _quirk_usage() -> pa.Table:
    # record, sku, product, start, end, quantity, record_type, ingestion_date, job, run, cluster, tags
    rows = [
        (
            "r-before",
            SKU_JOBS,
            "JOBS",
            _t(10, 8),
            _t(10, 9),
            "2",
            "ORIGINAL",
            dt.date(2025, 3, 10),
            "11",
            "101",
            None,
            {"team": "ml"},
        ),
        (
            "r-edge",
            SKU_JOBS,
            "JOBS",
            _t(10, 9),
            _t(10, 10),
            "2",
            "ORIGINAL",
            dt.date(2025, 3, 10),
            "11",
            "101",
            None,
            {"team": "ml"},
        ),
        (
            "r-after",
            SKU_JOBS,
            "JOBS",
            _t(10, 10),
            _t(10, 11),
            "2",
            "ORIGINAL",
            dt.date(2025, 3, 10),
            "11",
            "101",
            None,
            {},
        ),
        (
            "r-ap",
            SKU_AP,
            "ALL_PURPOSE",
            _t(10, 12),
            _t(10, 13),
            "3",
            "ORIGINAL",
            dt.date(2025, 3, 10),
            None,
            None,
            "0310-120000-abcdefgh",
            {},
        ),
        (
            "r-ap-retract",
            SKU_AP,
            "ALL_PURPOSE",
            _t(10, 12),
            _t(10, 13),
            "-3",
            "RETRACTION",
            dt.date(2025, 3, 13),
            None,
            None,
            "0310-120000-abcdefgh",
            {},
        ),
        (
            "r-ap-restate",
            SKU_AP,
            "ALL_PURPOSE",
            _t(10, 12),
            _t(10, 13),
            "2.5",
            "RESTATEMENT",
            dt.date(2025, 3, 13),
            None,
            None,
            "0310-120000-abcdefgh",
            {},
        ),
        (
            "r-no-ingest",
            SKU_AP,
            "ALL_PURPOSE",
            _t(10, 23),
            _t(11, 0),
            "1.25",
            "ORIGINAL",
            None,
            None,
            None,
            "0310-120000-abcdefgh",
            {},
        ),
        (
            "r-new-product",
            SKU_AGENT,
            "SUPERVISOR_AGENT",
            _t(11, 0),
            _t(11, 1),
            "4",
            "ORIGINAL",
            dt.date(2025, 3, 11),
            None,
            None,
            None,
            {},
        ),
        (
            "r-unpriced",
            SKU_EGRESS,
            "NETWORKING",
            _t(11, 0),
            _t(11, 1),
            "10",
            "ORIGINAL",
            dt.date(2025, 3, 11),
            None,
            None,
            None,
            None,
        ),
        (
            "r-no-commit",
            SKU_JOBS,
            "JOBS",
            _t(28, 5, 2),
            _t(28, 6, 2),
            "1",
            "ORIGINAL",
            dt.date(2025, 2, 28),
            "11",
            "99",
            None,
            {},
        ),
    ]
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    jobs = pc.equal(pa.array(cols[2]), "JOBS")
    egress = pc.equal(pa.array(cols[2]), "NETWORKING")
    return build_system(
        "billing.usage",
        {
            "account_id": pa.array([ACCOUNT] * n),
            "workspace_id": pa.array([WS] * n),
            "record_id": pa.array(cols[0]),
            "sku_name": pa.array(cols[1]),
            "cloud": pa.array(["AWS"] * n),
            "usage_start_time": pa.array(cols[3]),
            "usage_end_time": pa.array(cols[4]),
            "usage_date": pa.array([t.date() for t in cols[3]]),
            "custom_tags": pa.array(
                [None if t is None else list(t.items()) for t in cols[11]], pa.map_(pa.string(), pa.string())
            ),
            "usage_unit": pc.if_else(egress, "GB", "DBU"),
            "usage_quantity": pa.array([Decimal(q) for q in cols[5]], pa.decimal128(38, 18)),
            "usage_metadata": {
                "job_id": pa.array(cols[8], pa.string()),
                "job_run_id": pa.array(cols[9], pa.string()),
                "cluster_id": pa.array(cols[10], pa.string()),
                "node_type": pa.array([None if c is None else "i3.xlarge" for c in cols[10]], pa.string()),
            },
            "identity_metadata": {
                "run_as": pc.if_else(jobs, "etl@acme-corp.com", pa.scalar(None, pa.string()))
            },
            "record_type": pa.array(cols[6]),
            "ingestion_date": pa.array(cols[7], pa.date32()),
            "billing_origin_product": pa.array(cols[2]),
            "product_features": {
                "is_serverless": pa.array([True, True, True, False, False, False, False, None, None, True]),
                "is_photon": pa.array([False] * 7 + [None, None, False]),
            },
            "usage_type": pc.if_else(egress, "NETWORK_BYTE", "COMPUTE_TIME"),
        },
    )


def _quirk_prices() -> pa.Table:
    old = dt.datetime(2023, 1, 1, tzinfo=UTC)
    dec = lambda values: pa.array([None if v is None else Decimal(v) for v in values], pa.decimal128(38, 18))  # noqa: E731
    return build_system(
        "billing.list_prices",
        {
            "account_id": pa.array([ACCOUNT] * 4),
            # The serverless jobs promotion (0.35) ends at CHANGE; the agent SKU's export has no
            # effective_list (its promotional price applies).
            "price_start_time": pa.array([old, CHANGE, old, old]),
            "price_end_time": pa.array([CHANGE, None, None, None], pa.timestamp("us", tz="UTC")),
            "sku_name": pa.array([SKU_JOBS, SKU_JOBS, SKU_AP, SKU_AGENT]),
            "cloud": pa.array(["AWS"] * 4),
            "currency_code": pa.array(["USD"] * 4),
            "usage_unit": pa.array(["DBU"] * 4),
            "pricing": {
                "default": dec(["0.39", "0.39", "0.55", "0.40"]),
                "promotional": {"default": dec(["0.35", None, None, "0.20"])},
                "effective_list": {"default": dec(["0.35", "0.39", "0.55", None])},
            },
        },
    )


def _quirk_commitments() -> pa.Table:
    return pa.table(
        {
            "commit_id": ["contract-2025", "contract-2025-q2", "budget-ws"],
            "account_id": pa.array([None, ACCOUNT, None], pa.string()),
            "workspace_id": pa.array([None, None, WS], pa.string()),
            "commit_type": ["ACCOUNT_COMMIT", "ACCOUNT_COMMIT", "WORKSPACE_MONTHLY_BUDGET"],
            "period_start": [dt.date(2025, 3, 1), dt.date(2025, 4, 1), dt.date(2025, 3, 1)],
            "period_end": [dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 3, 31)],
            "commit_amount_usd": [100_000.0, 50_000.0, 2_000.0],
            "discount_pct": [10.0, 20.0, 50.0],
            "currency_code": pa.array([None, "USD", "USD"], pa.string()),
        }
    )


def test_hand_written_quirks_value_by_value(system_home):
    system_home.load_system({"billing.usage": _quirk_usage(), "billing.list_prices": _quirk_prices()})
    _write_inputs(system_home, _quirk_commitments())
    steps = _build(system_home)
    notes = " | ".join(steps["fact_usage"].notes)
    assert "1 row(s) have no ingestion_date" in notes
    assert "1 row(s) have no list price" in notes

    usage = {r["record_id"]: r for r in _gold(system_home, "fact_usage").to_pylist()}
    assert len(usage) == 10

    def check(record: str, **want):
        for column, value in want.items():
            got = usage[record][column]
            if isinstance(value, float):
                assert got is not None and math.isclose(got, value, rel_tol=1e-9), (
                    record,
                    column,
                    got,
                    value,
                )
            else:
                assert got == value, (record, column, got, value)

    # Price open at usage_end_time: 08-09 at the promotion, 09-10 and 10-11 at the new price.
    check(
        "r-before",
        list_price=0.35,
        effective_price=0.315,
        list_cost=0.70,
        effective_cost=0.63,
        job_id="11",
        job_run_id="101",
        run_as="etl@acme-corp.com",
        is_tagged=True,
        custom_tags=[("team", "ml")],
        product_features_is_serverless=True,
    )
    check("r-edge", list_price=0.39, effective_price=0.351, list_cost=0.78)
    check("r-after", list_price=0.39, list_cost=0.78, is_tagged=False, custom_tags=[])
    # A job on an all-purpose cluster: billed to the cluster, no job ids.
    check(
        "r-ap",
        job_id=None,
        job_run_id=None,
        run_as=None,
        cluster_id="0310-120000-abcdefgh",
        node_type="i3.xlarge",
        list_price=0.55,
        list_cost=1.65,
        ingestion_date=dt.date(2025, 3, 10),
    )
    check(
        "r-ap-retract",
        usage_quantity=-3.0,
        record_type="RETRACTION",
        list_cost=-1.65,
        ingestion_date=dt.date(2025, 3, 13),
        usage_date=dt.date(2025, 3, 10),
    )
    check("r-ap-restate", usage_quantity=2.5, record_type="RESTATEMENT", effective_cost=2.5 * 0.55 * 0.9)
    net = sum(usage[r]["usage_quantity"] for r in ("r-ap", "r-ap-retract", "r-ap-restate"))
    assert math.isclose(net, 2.5)
    # No ingestion_date: the day after the usage ended (ended at midnight of the 11th).
    check("r-no-ingest", ingestion_date=dt.date(2025, 3, 12), usage_date=dt.date(2025, 3, 10))
    # An unknown product passes through; effective_list missing -> the promotional price.
    check(
        "r-new-product",
        billing_origin_product="SUPERVISOR_AGENT",
        list_price=0.20,
        list_cost=0.8,
        product_features_is_serverless=None,
        product_features_is_photon=None,
    )
    check(
        "r-unpriced",
        list_price=None,
        effective_price=None,
        list_cost=None,
        effective_cost=None,
        usage_unit="GB",
        usage_type="NETWORK_BYTE",
        custom_tags=[],
        is_tagged=False,
    )
    # Before any ACCOUNT_COMMIT: no discount; the workspace budget's discount never applies.
    check("r-no-commit", list_price=0.35, effective_price=0.35, effective_cost=0.35)

    skus = {r["sku_name"]: r for r in _gold(system_home, "dim_sku").to_pylist()}
    assert skus == {
        SKU_JOBS: dict(
            sku_name=SKU_JOBS,
            cloud="AWS",
            usage_unit="DBU",
            billing_origin_product="JOBS",
            product_family="JOBS",
            is_serverless=True,
            current_list_price=0.39,
        ),
        SKU_AP: dict(
            sku_name=SKU_AP,
            cloud="AWS",
            usage_unit="DBU",
            billing_origin_product="ALL_PURPOSE",
            product_family="ALL_PURPOSE",
            is_serverless=False,
            current_list_price=0.55,
        ),
        SKU_AGENT: dict(
            sku_name=SKU_AGENT,
            cloud="AWS",
            usage_unit="DBU",
            billing_origin_product="SUPERVISOR_AGENT",
            product_family="OTHER",
            is_serverless=True,
            current_list_price=0.20,
        ),
        SKU_EGRESS: dict(
            sku_name=SKU_EGRESS,
            cloud="AWS",
            usage_unit="GB",
            billing_origin_product="NETWORKING",
            product_family="OTHER",
            is_serverless=False,
            current_list_price=None,
        ),
    }

    prices = sorted_rows(_gold(system_home, "fact_list_prices"), KEYS["fact_list_prices"])
    agent = next(p for p in prices if p["sku_name"] == SKU_AGENT)
    assert (
        agent["pricing_default"],
        agent["pricing_promotional_default"],
        agent["pricing_effective_list_default"],
    ) == (0.40, 0.20, 0.20)
    promo = next(p for p in prices if p["sku_name"] == SKU_JOBS and p["price_end_time"] is not None)
    assert promo["price_end_time"] == CHANGE and promo["pricing_effective_list_default"] == 0.35

    commits = {r["commit_id"]: r for r in _gold(system_home, "commit_configurations").to_pylist()}
    assert commits["contract-2025"]["account_id"] == ACCOUNT  # from billing.usage
    assert commits["contract-2025"]["currency_code"] == "USD"
    assert commits["budget-ws"] == dict(
        commit_id="budget-ws",
        account_id=ACCOUNT,
        workspace_id=WS,
        commit_type="WORKSPACE_MONTHLY_BUDGET",
        period_start=dt.date(2025, 3, 1),
        period_end=dt.date(2025, 3, 31),
        commit_amount_usd=2000.0,
        discount_pct=50.0,
        currency_code="USD",
    )


# ------------------------------------------------------------------------------ incremental


def _late_correction(usage: pa.Table, old_day: dt.date, ingested: dt.date) -> pa.Table:
    """A RETRACTION/RESTATEMENT pair for an ORIGINAL record of ``old_day``, ingested on ``ingested``."""
    original = usage.filter(
        pc.and_(
            pc.equal(usage["usage_date"], pa.scalar(old_day, pa.date32())),
            pc.equal(usage["record_type"], "ORIGINAL"),
        )
    ).slice(0, 1)
    assert original.num_rows == 1
    pair = pa.concat_tables([original, original])
    quantity = original["usage_quantity"][0].as_py()
    columns = {
        "record_id": pa.array(["late-retraction", "late-restatement"]),
        "record_type": pa.array(["RETRACTION", "RESTATEMENT"]),
        "usage_quantity": pa.array([-quantity, quantity * Decimal("0.5")], pa.decimal128(38, 18)),
        "ingestion_date": pa.array([ingested, ingested], pa.date32()),
    }
    for name, values in columns.items():
        pair = pair.set_column(pair.schema.get_field_index(name), name, values)
    return pair


def test_incremental_build_equals_a_full_build(full_build, system_home):
    system, last = full_build["system"], full_build["last"]
    usage = system["billing.usage"]
    cutoff = last - dt.timedelta(days=6)
    first = usage.filter(pc.less_equal(usage["ingestion_date"], pa.scalar(cutoff, pa.date32())))

    system_home.load_system({"billing.usage": first, "billing.list_prices": system["billing.list_prices"]})
    full_build["inputs"].write(system_home.settings.account_inputs_path)
    assert _build(system_home)["fact_usage"].status == "built"
    system_home.load_system({"billing.usage": usage})
    again = _build(system_home)
    assert again["fact_usage"].status == "incremental"
    assert again["fact_usage"].since == cutoff - dt.timedelta(days=3)
    assert again["fact_list_prices"].status == "unchanged"
    for table in TABLES:
        _assert_same(_gold(system_home, table), _gold(full_build["runtime"], table), KEYS[table], table)
    # The late pair restates a usage day long before `since`; it lands on its ingestion day.
    restated = [r for r in _gold(system_home, "fact_usage").to_pylist() if r["record_id"].startswith("late-")]
    assert {r["ingestion_date"] for r in restated} == {last + dt.timedelta(days=1)}
    assert {r["usage_date"] for r in restated} == {last - dt.timedelta(days=16)}
    assert all(r["usage_date"] < again["fact_usage"].since for r in restated)


# ------------------------------------------------------------------------------ empty sources


def test_empty_sources_build_empty_tables(system_home):
    system_home.load_system(
        {
            name: system_table(name).arrow_schema().empty_table()
            for name in ("billing.usage", "billing.list_prices")
        }
    )
    steps = _build(system_home)
    assert {t: steps[t].rows for t in TABLES} == dict.fromkeys(TABLES, 0)
    for table in TABLES:
        assert _gold(system_home, table).num_rows == 0


def test_a_hand_written_export_goes_through_load_system_tables_and_gold(tmp_path, spark, capsys):
    """The user's path, end to end: files of a `SELECT *` export (with a column newer than our
    reference and a product we have never seen) -> load-system-tables -> gold -> Gold rows."""
    import pyarrow.parquet as pq

    from health_monitor.cli import main
    from health_monitor.system.inputs import AccountInputs

    export = tmp_path / "export"
    export.mkdir()
    usage = _quirk_usage()
    usage = usage.append_column(
        "usage_policy_v2", pa.array(["p"] * usage.num_rows)
    )  # added after our reference
    product = [
        "QUANTUM_COMPUTE" if p == "SUPERVISOR_AGENT" else p
        for p in usage["billing_origin_product"].to_pylist()
    ]
    usage = usage.set_column(
        usage.schema.get_field_index("billing_origin_product"), "billing_origin_product", pa.array(product)
    )  # a product we have never seen
    pq.write_table(usage, export / "billing.usage.parquet")
    pq.write_table(_quirk_prices(), export / "system.billing.list_prices.parquet")
    home = tmp_path / "home"
    AccountInputs(_quirk_commitments(), AccountInputs.empty().job_slas).write(home / "account.yaml")

    assert main(["load-system-tables", str(export), "--home", str(home)]) == 0
    err = capsys.readouterr().err
    assert "usage_policy_v2" in err and "QUANTUM_COMPUTE" in err, err
    assert "access.audit" in err and "fact_audit_logs" in err and "serving" not in err, err
    assert main(["gold", "--home", str(home), "--table", "fact_usage"]) == 0
    out = capsys.readouterr().out
    assert "fact_usage" in out and "10 rows" in out, out
    assert "1 row(s) have no ingestion_date" in out, out

    from health_monitor.config import Settings
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=home))
    rows = {r["record_id"]: r for r in _gold(runtime, "fact_usage").to_pylist()}
    assert math.isclose(rows["r-edge"]["list_price"], 0.39) and math.isclose(
        rows["r-before"]["effective_price"], 0.315
    )
    assert rows["r-ap"]["job_id"] is None and rows["r-ap"]["cluster_id"] == "0310-120000-abcdefgh"
    net = sum(rows[r]["usage_quantity"] for r in ("r-ap", "r-ap-retract", "r-ap-restate"))
    assert math.isclose(net, 2.5)
    assert rows["r-new-product"]["billing_origin_product"] == "QUANTUM_COMPUTE"
    assert rows["r-no-ingest"]["ingestion_date"] == dt.date(2025, 3, 12)
    # Nothing changed: the second run writes nothing.
    assert main(["gold", "--home", str(home), "--table", "fact_usage"]) == 0
    assert "unchanged" in capsys.readouterr().out
