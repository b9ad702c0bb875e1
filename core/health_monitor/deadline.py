"""A time limit for the plugin code of one pipeline item (a feature table, a model).

Python threads cannot be killed, so an item runs in a daemon thread of its own and the stage
waits for it at most ``limit`` seconds. Past the limit the item is reported as failed and the
stage goes on; the thread is cancelled, not killed: its :class:`Token` is set, the Spark jobs it
started are cancelled (:func:`health_monitor.lakehouse.spark.cancel_jobs_with_item`), its
MLflow run is closed as failed, and every side effect the core performs for it afterwards
(writing a table, logging or registering a model, moving an alias) first calls
:func:`checkpoint`, which raises :class:`Cancelled`. So a stuck ``fit`` may keep a core busy
until the process ends, but nothing it does after the deadline is written or reported.

A thread holding the GIL in C code without releasing it cannot be waited out this way; such an
estimator still blocks the process (scikit-learn, xgboost and numpy release the GIL in their
long loops).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

from health_monitor.errors import HealthMonitorError

log = logging.getLogger(__name__)
T = TypeVar("T")


class TimeLimitError(HealthMonitorError, TimeoutError):
    """An item did not finish within the time limit; it was stopped and reported."""


class Cancelled(HealthMonitorError):
    """Raised in a stopped item's own thread before it could write anything."""


class Token:
    """The cancellation flag of one running item, with what to undo when it is set."""

    def __init__(self, label: str):
        self.label = label
        self.id = uuid.uuid4().hex
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._set.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the item is stopped (at once if it already was)."""
        with self._lock:
            if not self._set.is_set():
                self._callbacks.append(callback)
                return
        _call(callback, self.label)

    def cancel(self) -> None:
        with self._lock:
            self._set.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _call(callback, self.label)

    def check(self, what: str = "") -> None:
        if self._set.is_set():
            raise Cancelled(f"{self.label} was stopped at its time limit; not done: {what or 'the rest'}")


def _call(callback: Callable[[], None], label: str) -> None:
    try:
        callback()
    except Exception:  # cleaning up after a stopped item must not stop the stage
        log.warning("cleaning up after %s failed", label, exc_info=True)


_local = threading.local()


def current() -> Token | None:
    """The token of the item running in this thread, or None outside a pipeline item."""
    return getattr(_local, "token", None)


def checkpoint(what: str = "") -> None:
    """Raise :class:`Cancelled` if this thread's item was stopped; call before every side effect."""
    token = current()
    if token is not None:
        token.check(what)


def run_with_limit(work: Callable[[], T], limit: float | None, label: str, token: Token | None = None) -> T:
    """Run ``work`` in a daemon thread and return its result, or raise :class:`TimeLimitError`
    after ``limit`` seconds (None: no limit; ``work`` then runs in this thread). An interrupt
    (Ctrl-C) while waiting cancels the item too. ``token`` (a new one if None) is the item's: a
    caller that keeps it can stop the item from another thread."""
    token = token or Token(label)
    if limit is None:
        _local.token = token
        try:
            return work()
        finally:
            _local.token = None
    outcome: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        _local.token = token
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread as is
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"health-monitor: {label}", daemon=True)
    thread.start()
    try:
        finished = done.wait(limit)
    except BaseException:
        token.cancel()
        raise
    if not finished:
        token.cancel()
        raise TimeLimitError(f"{label} stopped after {limit:g} s, its time limit")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
