"""What a pipeline run did, item by item: the basis of the summary and the exit status."""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tqdm.auto import tqdm

from health_monitor.deadline import Token, run_with_limit
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
    workers: int = 1,
) -> StageReport:
    """Run ``work`` on each item; failures are caught, attributed and reported, never fatal.

    An item still running after ``time_limit`` seconds (None: no limit) is stopped and reported
    as failed with its plugin; the next item starts at once (see :mod:`health_monitor.deadline`).
    With ``workers`` over 1, up to that many items run at once, each in a thread of its own (for
    items that do not read each other's output); the hooks are still called from this thread,
    before an item starts and after it ends, and the report keeps the items' order. An interrupt
    (Ctrl-C) stops every running item. The frames the items share
    (:func:`health_monitor.lakehouse.shared.sharing`) are dropped at the end.
    """
    items = list(items)
    results: list[ItemResult | None] = [None] * len(items)
    running: dict[int, tuple[str, Token]] = {}  # index -> the item's name and token
    # index -> what happened, with the exception for the hooks (not kept: its traceback holds the item's frames)
    finished: queue.SimpleQueue[tuple[int, ItemResult, BaseException | None]] = queue.SimpleQueue()
    bar = tqdm(total=len(items), desc=stage, unit="item", disable=None if progress else True, leave=False)

    def start(index: int, owned: Owned[T]) -> None:
        item = name(owned.spec)
        host.notify("before_stage", stage=stage, item=item, settings=settings)
        token = Token(f"{stage} of {item} ({owned.plugin})")
        running[index] = (item, token)
        bar.set_postfix_str(", ".join(i for i, _ in running.values()))
        if workers <= 1:
            finished.put((index, *_attempt(stage, item, owned, work, time_limit, token)))
            return
        # SystemExit and the like from plugin code, reported (this thread would wait for it forever)
        attempt = functools.partial(_attempt, stage, item, owned, work, time_limit, token, BaseException)

        def target() -> None:
            finished.put((index, *attempt()))

        # A daemon: an item stuck past an interrupt must not keep the process alive.
        threading.Thread(target=target, name=token.label, daemon=True).start()

    # A frame that several items derive alike (Tables.shared) is computed once per stage.
    with sharing(), bar:
        queued = iter(enumerate(items))
        try:
            while True:
                while len(running) < max(1, workers) and (nxt := next(queued, None)) is not None:
                    start(*nxt)
                if not running:
                    break
                index, result, error = finished.get()
                running.pop(index)
                results[index] = result
                bar.update(1)
                _notify(host, result, error, settings)
        except BaseException:  # an interrupt while waiting: stop what still runs
            for _, token in running.values():
                token.cancel()
            raise
    return StageReport(stage, [r for r in results if r is not None])


def _attempt(
    stage: str,
    item: str,
    owned: Owned[T],
    work: Callable[[T], dict[str, Any]],
    time_limit: float | None,
    token: Token,
    contain: type[BaseException] = Exception,
) -> tuple[ItemResult, BaseException | None]:
    """Run one item's ``work``; what happened, as an :class:`ItemResult`, and the exception it
    failed with (raises no ``contain``)."""
    begin = time.perf_counter()
    try:
        details = run_with_limit(functools.partial(work, owned.spec), time_limit, token.label, token) or {}
    except SkipItem as exc:
        # Not a failure: the account lacks what this item reads (a missing system table), or
        # the champion gate held the model's versions back.
        return ItemResult(
            stage, item, owned.plugin, True, time.perf_counter() - begin, {"skipped": str(exc)}
        ), None
    except contain as exc:
        return ItemResult(
            stage,
            item,
            owned.plugin,
            False,
            time.perf_counter() - begin,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        ), exc
    return ItemResult(stage, item, owned.plugin, True, time.perf_counter() - begin, details), None


def _notify(host: Host, result: ItemResult, error: BaseException | None, settings: Any) -> None:
    """Log an ended item and call the hooks on it."""
    stage, item = result.stage, result.item
    if "skipped" in result.details:
        log.warning("%s %s skipped: %s", stage, item, result.details["skipped"])
    elif not result.ok:
        log.error("%s %s failed (%s): %s", stage, item, result.plugin, result.error)
        log.debug("%s", result.traceback)
        host.notify("on_stage_error", stage=stage, item=item, settings=settings, error=error)
    else:
        host.notify("after_stage", stage=stage, item=item, settings=settings, result=dict(result.details))
