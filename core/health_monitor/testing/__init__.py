"""The test kit the core ships: fixtures (a local Spark session, throwaway homes, a small
simulated and trained account) and :class:`PluginConformance`, which a plugin's tests
subclass in a few lines::

    from health_monitor.testing import PluginConformance

    class TestCostPlugin(PluginConformance):
        plugin_name = "cost"

The fixtures are registered with pytest through the ``pytest11`` entry point, so any project
with health-monitor installed can use them.
"""

from health_monitor.testing.conformance import PluginConformance

__all__ = ["PluginConformance"]
