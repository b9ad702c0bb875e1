"""Promoting a version by hand: ``health-monitor promote --model M --version N --reason TEXT``.

The champion gate of ``train`` fails closed (see :func:`health_monitor.pipelines.train._promote`):
a version it holds back stays ``challenger`` until someone promotes it. Rolling back is promoting
an older version. Who, when, why and which version it replaced are recorded as tags on the
promoted version, so the registry keeps the trail; ``infer``, ``serve`` and the agent tools follow
the ``champion`` alias.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import Any

from health_monitor.errors import ConfigError
from health_monitor.registry import CHALLENGER, CHAMPION, ModelRegistry

TAG_REASON = "promotion.reason"
TAG_BY = "promotion.by"
TAG_AT = "promotion.at"
TAG_REPLACED = "promotion.replaced_version"


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return os.environ.get("USER") or "unknown"


def promote(
    registry: ModelRegistry,
    name: str,
    version: int,
    reason: str,
    by: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Make ``version`` of registered model ``name`` the champion, recording ``reason``.

    Raises :class:`ConfigError` (naming what exists) for an empty reason, an unregistered model or
    an unknown version. Returns what changed: ``model``, ``version``, ``replaced`` (the previous
    champion's version or None), ``by``, ``at``, ``reason``."""
    reason = (reason or "").strip()
    if not reason:
        raise ConfigError("--reason must say why (it is recorded on the version)")
    versions = registry.versions(name)
    if not versions:
        raise ConfigError(f"no registered model {name} in this home's registry; train it first")
    if version not in {v.version for v in versions}:
        known = ", ".join(str(v.version) for v in versions)
        raise ConfigError(f"model {name} has no version {version}; its versions are {known}")
    previous = registry.version_by_alias(name, CHAMPION)
    at = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    by = by or current_user()
    registry.set_version_tags(
        name,
        version,
        {
            TAG_REASON: reason,
            TAG_BY: by,
            TAG_AT: at,
            TAG_REPLACED: str(previous.version) if previous else "none",
        },
    )
    registry.set_alias(name, CHAMPION, version)
    challenger = registry.version_by_alias(name, CHALLENGER)
    if challenger is not None and challenger.version == version:
        registry.delete_alias(name, CHALLENGER)  # it is no longer waiting
    return {
        "model": name,
        "version": version,
        "replaced": previous.version if previous else None,
        "by": by,
        "at": at,
        "reason": reason,
    }
