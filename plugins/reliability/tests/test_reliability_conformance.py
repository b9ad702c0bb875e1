from health_monitor.testing import PluginConformance


class TestReliabilityPlugin(PluginConformance):
    plugin_name = "reliability"
    min_tools = 4
