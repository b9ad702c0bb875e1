"""Old import path of the performance plugin's relative regressor, now the SDK's.

Models logged to MLflow before the move pickled ``RelativeToColumnRegressor`` by this path; it
stays so they load. New models use :class:`health_monitor.sdk.RelativeRegressor`.
"""

from __future__ import annotations

from health_monitor import sdk


class RelativeToColumnRegressor(sdk.RelativeRegressor):
    """Unpickles models logged under this name: the parameters the SDK added get the values that
    reproduce the old fit (no offset, no weights)."""

    def __setstate__(self, state: dict) -> None:
        state.setdefault("offset", None)
        state.setdefault("relative_weights", False)
        state.setdefault("weight_range", None)
        super().__setstate__(state)
