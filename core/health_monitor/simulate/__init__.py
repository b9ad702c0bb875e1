"""A simulated Databricks account: the Gold layer, with labelled incidents kept apart.

    from health_monitor.simulate import SimulationConfig, simulate_account
    account = simulate_account(SimulationConfig(scale="small", seed=7))
    account.gold["fact_usage"]            # pyarrow.Table meeting the Gold contract
    account.ground_truth["incidents"]     # what was injected, where and when

Pure: numpy, pandas-free, pyarrow only; no Spark, no files; deterministic from the seed.
"""

from health_monitor.simulate.account import SimulatedAccount, simulate_account
from health_monitor.simulate.config import DEFAULT_END_DATE, SCALES, ScaleSpec, SimulationConfig
from health_monitor.simulate.incidents import INCIDENT_TYPES

__all__ = [
    "DEFAULT_END_DATE",
    "INCIDENT_TYPES",
    "SCALES",
    "ScaleSpec",
    "SimulatedAccount",
    "SimulationConfig",
    "simulate_account",
]
