from health_monitor.testing import PluginConformance


class TestCostPlugin(PluginConformance):
    plugin_name = "cost"
