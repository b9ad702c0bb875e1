"""Old import path of the performance plugin's F1-threshold classifier, now the SDK's.

Models logged to MLflow before the move pickled ``F1ThresholdClassifier`` by this path; it
stays so they load. New models use :class:`health_monitor.sdk.F1ThresholdClassifier`.
"""

from __future__ import annotations

from health_monitor import sdk


class F1ThresholdClassifier(sdk.F1ThresholdClassifier):
    """Unpickles models logged under this name: ``folds`` is now ``cv``; the F1 search ran over
    the 50-99.5% quantiles with no guard."""

    def __setstate__(self, state: dict) -> None:
        if "folds" in state:
            state["cv"] = state.pop("folds")
        state.setdefault("quantiles", (0.5, 0.995, 80))
        state.setdefault("max_positive_ratio", None)
        state.setdefault("random_state", 0)
        super().__setstate__(state)
