"""The performance domain plugin of health-monitor."""

__version__ = "0.1.0"
