"""The serving wing: prediction tables and champions read without Spark, for agents and HTTP.

- :mod:`.online`: tables in memory, indexed by key (:class:`~.online.OnlineStore`);
- :mod:`.scoring`: champion models loaded from the registry, scored live one row at a time;
- :mod:`.context`: what agent tools read (:class:`~.context.OnlineToolContext`);
- :mod:`.app`: the endpoints of ``health-monitor serve`` (:class:`~.app.ScoringService`);
- :mod:`.httpd`: the HTTP server under them, with its limits.
"""
