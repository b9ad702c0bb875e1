"""What a pipeline run did, item by item: the basis of the summary and the exit status."""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tqdm.auto import tqdm

from health_monitor.deadline import run_with_limit
from health_monitor.errors import SkipItem
from health_monitor.host import Host, Owned
from health_monitor.lakehouse.shared import sharing
from health_monitor.plugins import PluginInfo

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ItemResult:
    stage: str
    item: str
    plugin: PluginInfo | None
    ok: bool
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "item": self.item,
            "plugin": self.plugin.name if self.plugin else None,
            "distribution": self.plugin.distribution if self.plugin else None,
            "version": self.plugin.version if self.plugin else None,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "details": self.details,
            "error": self.error,
        }


@dataclass
class StageReport:
    stage: str
    items: list[ItemResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failed(self) -> list[ItemResult]:
        return [item for item in self.items if not item.ok]

    @property
    def skipped(self) -> list[ItemResult]:
        return [item for item in self.items if item.ok and "skipped" in item.details]


def run_items(
    stage: str,
    items: Iterable[Owned[T]],
    name: Callable[[T], str],
    work: Callable[[T], dict[str, Any]],
    host: Host,
    settings: Any,
    progress: bool = True,
    time_limit: float | None = None,
) -> StageReport:
    """Run ``work`` on each item; failures are caught, attributed and reported, never fatal.

    An item still running after ``time_limit`` seconds (None: no limit) is stopped and reported
    as failed with its plugin; the next item starts at once (see :mod:`health_monitor.deadline`).
    The frames the items share (:func:`health_monitor.lakehouse.shared.sharing`) are dropped at
    the end.
    """
    items = list(items)
    report = StageReport(stage)
    # A frame that several items derive alike (Tables.shared) is computed once per stage.
    with sharing():
        bar = tqdm(items, desc=stage, unit="item", disable=None if progress else True, leave=False)
        for owned in bar:
            item = name(owned.spec)
            bar.set_postfix_str(item)
            host.notify("before_stage", stage=stage, item=item, settings=settings)
            start = time.perf_counter()
            try:
                label = f"{stage} of {item} ({owned.plugin})"
                details = run_with_limit(functools.partial(work, owned.spec), time_limit, label) or {}
            except SkipItem as exc:
                # Not a failure: the account lacks what this item reads (a missing system table), or
                # the champion gate held the model's versions back.
                result = ItemResult(
                    stage, item, owned.plugin, True, time.perf_counter() - start, {"skipped": str(exc)}
                )
                log.warning("%s %s skipped: %s", stage, item, exc)
                report.items.append(result)
                continue
            except Exception as exc:
                result = ItemResult(
                    stage,
                    item,
                    owned.plugin,
                    False,
                    time.perf_counter() - start,
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                )
                log.error("%s %s failed (%s): %s", stage, item, owned.plugin, result.error)
                log.debug("%s", result.traceback)
                host.notify("on_stage_error", stage=stage, item=item, settings=settings, error=exc)
            else:
                result = ItemResult(stage, item, owned.plugin, True, time.perf_counter() - start, details)
                host.notify("after_stage", stage=stage, item=item, settings=settings, result=dict(details))
            report.items.append(result)
    return report
