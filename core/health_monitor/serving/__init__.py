"""The serving wing: prediction tables and champions read without Spark, for agents
(:mod:`.context`) and HTTP (:mod:`.app` over :mod:`.httpd`), from an in-memory store
(:mod:`.online`) and live scoring (:mod:`.scoring`)."""
