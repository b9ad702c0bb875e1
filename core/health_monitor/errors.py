"""Errors the core raises. Each one names what was wrong: the table, column, argument or plugin."""

from __future__ import annotations


class HealthMonitorError(Exception):
    """Base class of every error health-monitor raises on purpose."""


class ConfigError(HealthMonitorError, ValueError):
    """A setting, flag or argument is invalid; the message names it and the valid values."""


class TableNotFoundError(HealthMonitorError, LookupError):
    """A table addressed as ``catalog.schema.table`` does not exist in the lakehouse."""

    def __init__(self, name: str, hint: str = ""):
        self.name = name
        super().__init__(f"table {name} does not exist" + (f": {hint}" if hint else ""))


class SkipItem(HealthMonitorError):
    """An item of a pipeline that cannot run for a reason that is not a failure: the pipeline
    reports it as skipped, with this message, and the exit status stays 0."""


class MissingInputError(TableNotFoundError, SkipItem):
    """A Gold or feature table an item needs was never built (its system tables are not loaded,
    or the feature table was skipped): the item is skipped with this note, not failed."""


class UnfinishedLoadError(HealthMonitorError):
    """A command that replaces many tables (``load-gold``, ``gold``, ...) stopped midway, or is
    still running: the tables do not belong together. The message names the load, the tables it
    replaced and not, and the command that finishes it and the one that undoes it."""


class NoChampionError(SkipItem):
    """A model has versions but no ``champion``: the champion gate held them back as
    ``challenger``. ``infer`` skips it with this note; ``health-monitor promote`` ends it."""


class ModelLoadError(HealthMonitorError):
    """A registered model version cannot be loaded: its artifacts are missing, unreadable or
    were written by an incompatible library. The message names the model, version and cause."""


class SchemaError(HealthMonitorError, ValueError):
    """A DataFrame lacks a column, has the wrong type, or breaks a key constraint."""


class PrimaryKeyError(SchemaError):
    """A feature table's primary key has nulls or duplicates; nothing was written."""


class WriteCountError(HealthMonitorError):
    """The files of a table write hold another number of rows than Spark wrote, so nothing was
    committed (the table's previous version stays current). The usual cause: Spark executors that
    do not share the driver's disk wrote their files where the driver cannot see them. The message
    names the table, both counts and the folder the driver looked in."""


def describe_plugin(plugin: str, distribution: str | None, version: str | None) -> str:
    if distribution:
        return f"plugin {plugin!r} ({distribution} {version or '?'})"
    return f"plugin {plugin!r}"
