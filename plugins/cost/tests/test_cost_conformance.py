from health_monitor.testing import PluginConformance


class TestCostPlugin(PluginConformance):
    plugin_name = "cost"
    min_tools = 4
