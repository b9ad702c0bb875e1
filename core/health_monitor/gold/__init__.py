"""The Gold layer: the declarative contract every Gold table meets, and a reader for user exports.

Everything downstream (feature tables, models, the simulator) codes against `GOLD_TABLES`.
"""

from health_monitor.gold.contract import (
    GOLD_TABLES,
    GOLD_TYPES,
    GoldColumn,
    GoldContractError,
    GoldTable,
    arrow_schema,
    check_table,
    conform,
    render_markdown,
)
from health_monitor.gold.loader import read_gold_export

__all__ = [
    "GOLD_TABLES",
    "GOLD_TYPES",
    "GoldColumn",
    "GoldContractError",
    "GoldTable",
    "arrow_schema",
    "check_table",
    "conform",
    "read_gold_export",
    "render_markdown",
]
