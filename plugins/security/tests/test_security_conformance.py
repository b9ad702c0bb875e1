from health_monitor.testing import PluginConformance


class TestSecurityPlugin(PluginConformance):
    plugin_name = "security"
    min_tools = 4
