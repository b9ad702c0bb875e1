from health_monitor.testing import PluginConformance


class TestCostPlugin(PluginConformance):
    plugin_name = "cost"
    known_leaks = {
        "cost_features": "a day's totals include billing rows ingested on later days (late records, "
        "RETRACTION/RESTATEMENT corrections up to ~6 days late); to be settled in issue 4",
    }
