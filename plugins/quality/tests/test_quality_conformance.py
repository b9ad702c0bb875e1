from health_monitor.testing import PluginConformance


class TestQualityPlugin(PluginConformance):
    plugin_name = "quality"
    min_tools = 4
