"""Old import paths of the reliability estimators, now the SDK's.

Models logged to MLflow before the move pickled these classes by this module's path, so each
stays here as a thin subclass that maps the old attribute names onto the SDK's when unpickled.
New models use :class:`health_monitor.sdk.F1ThresholdClassifier` and
:class:`health_monitor.sdk.RelativeRegressor` directly.
"""

from __future__ import annotations

from health_monitor import sdk


class GuardedThresholdClassifier(sdk.F1ThresholdClassifier):
    """Unpickles models logged as ``GuardedThresholdClassifier`` (its F1 search ran over the
    0-100% quantiles, the SDK's default)."""

    def __setstate__(self, state: dict) -> None:
        state.setdefault("quantiles", (0.0, 1.0, 201))
        super().__setstate__(state)


class RelativeRegressor(sdk.RelativeRegressor):
    """Unpickles models logged as this plugin's ``RelativeRegressor`` (``estimator``,
    ``references`` and ``mape_weights`` are now ``regressor``, ``reference`` and
    ``relative_weights``; weights were never clipped)."""

    def __setstate__(self, state: dict) -> None:
        renamed = {"estimator": "regressor", "references": "reference", "mape_weights": "relative_weights"}
        renamed["estimator_"] = "regressor_"
        for old, new in renamed.items():
            if old in state:
                state[new] = state.pop(old)
        state.setdefault("offset", None)
        state.setdefault("scaled", ())
        state.setdefault("weight_range", None)
        super().__setstate__(state)
