from health_monitor.testing import PluginConformance


class TestPerformancePlugin(PluginConformance):
    plugin_name = "performance"
    min_tools = 4
