"""Under pytest-xdist the test kit orders the files: those that need no shared home first, and
within each group the files marked ``heavy``, then those with more tests."""

from __future__ import annotations

pytest_plugins = ["pytester"]


def test_files_without_a_shared_home_come_first_and_heavy_files_lead_their_group(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")  # as in a worker, where the order applies
    heavy = "import pytest\npytestmark = pytest.mark.heavy\n"
    pytester.makepyfile(
        test_home_small="def test_one(trained_home): pass\n",
        test_home_big="def test_a(simulated_home): pass\ndef test_b(simulated_home): pass\n",
        test_home_heavy=heavy + "def test_x(trained_home): pass\n",
        test_free_small="def test_one(): pass\n",
        test_free_heavy=heavy + "def test_x(): pass\n",
        test_free_big="def test_a(): pass\ndef test_b(): pass\n",
    )
    result = pytester.runpytest(
        "--collect-only", "-q", "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnknownMarkWarning"
    )
    files = list(dict.fromkeys(line.split("::")[0] for line in result.outlines if "::" in line))
    assert files == [
        "test_free_heavy.py",
        "test_free_big.py",
        "test_free_small.py",
        "test_home_heavy.py",
        "test_home_big.py",
        "test_home_small.py",
    ]
