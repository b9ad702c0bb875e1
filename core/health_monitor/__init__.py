"""health-monitor: watch the health of a Databricks account with machine learning."""

__version__ = "0.1.0"
