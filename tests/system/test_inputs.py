"""The account file: commitments and job SLAs, what no system table holds."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest

from health_monitor.errors import ConfigError
from health_monitor.system import inputs
from health_monitor.system.inputs import AccountInputs, read_account_inputs


def test_the_documented_example_reads(tmp_path):
    doc = inspect.getdoc(inputs)
    example = doc.partition("::")[2].lstrip("\n").partition("\n\n")[0]
    path = tmp_path / "account.yaml"
    path.write_text("\n".join(line[4:] for line in example.splitlines()))
    parsed = read_account_inputs(path)
    assert parsed.commitments.to_pylist()[0]["period_end"] == dt.date(2025, 12, 31)
    assert parsed.commitments.to_pylist()[0]["discount_pct"] == 12.0
    assert parsed.job_slas.to_pylist()[0]["job_id"] == "987654321"


def test_a_missing_file_means_no_commitments_and_no_slas(tmp_path):
    parsed = read_account_inputs(tmp_path / "none.yaml")
    assert parsed.commitments.num_rows == 0 and parsed.job_slas.num_rows == 0


def test_written_files_read_back_the_same(tmp_path, tiny_account):
    from health_monitor.simulate.system import account_inputs

    written = account_inputs(tiny_account.gold)
    path = tmp_path / "account.yaml"
    written.write(path)
    back = read_account_inputs(path)
    assert back.commitments.to_pylist() == written.commitments.to_pylist()
    assert back.job_slas.to_pylist() == written.job_slas.to_pylist()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("commitments: [{commit_id: a}]", "commitments[0].commit_type is required"),
        (
            "commitments: [{commit_id: a, commit_type: X, period_start: 2025-01-01, period_end: 2025-01-31, "
            "commit_amount_usd: 1, discount_pct: 0}]",
            "commit_type must be one of",
        ),
        (
            "job_slas: [{workspace_id: '1', job_id: '2', sla_duration_seconds: soon, sla_owner: me}]",
            "job_slas[0].sla_duration_seconds: cannot read 'soon' as bigint",
        ),
        ("job_slas: [{workspace_id: '1', job_id: '2', owner: me}]", "unknown field(s) ['owner']"),
        (
            "commitments: [{commit_id: a, commit_type: ACCOUNT_COMMIT, period_start: 2025-01-01, "
            "period_end: 2025-01-31, commit_amount_usd: 1, discount_pct: -5}]",
            "commitments[0].discount_pct must be between 0 and 100, got -5.0",
        ),
        (
            "commitments: [{commit_id: a, commit_type: ACCOUNT_COMMIT, period_start: 2025-01-01, "
            "period_end: 2024-01-31, commit_amount_usd: 1, discount_pct: 5}]",
            "commitments[0].period_end must be on or after period_start",
        ),
        (
            "commitments: [{commit_id: a, commit_type: ACCOUNT_COMMIT, period_start: 2025-01-01, "
            "period_end: 2025-01-31, commit_amount_usd: .nan, discount_pct: 5}]",
            "commit_amount_usd must be a positive, finite amount",
        ),
        (
            "job_slas: [{workspace_id: '1', job_id: '2', sla_duration_seconds: 60, sla_end_hour_utc: 24, sla_owner: me}]",
            "job_slas[0].sla_end_hour_utc must be an hour from 0 to 23, got 24",
        ),
        ("budgets: []", "unknown section(s) ['budgets']"),
        ("commitments: [unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
    ],
)
def test_bad_files_name_the_entry_and_field(tmp_path, text, message):
    path = tmp_path / "account.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_account_inputs(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_empty_inputs_are_empty_tables():
    empty = AccountInputs.empty()
    assert empty.commitments.num_rows == 0 and "discount_pct" in empty.commitments.column_names
