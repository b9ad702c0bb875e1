"""The reports wing: what people read and what pages them.

- :mod:`~health_monitor.reports.findings`: the findings of the day, from every model's latest
  predictions and its plugin's rules;
- :mod:`~health_monitor.reports.alerts`: new findings sent to the configured channels;
- :mod:`~health_monitor.reports.summary`: the text summaries of runs and findings;
- :mod:`~health_monitor.reports.html`: the HTML report with its plots;
- :mod:`~health_monitor.reports.lakeview`: the same on Databricks (dashboards and SQL alerts).
"""
