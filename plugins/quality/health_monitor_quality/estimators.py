"""Estimators of the quality plugin that scikit-learn does not ship."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted


class HistogramOutlierScore(OutlierMixin, BaseEstimator):
    """Histogram-based outlier score (HBOS, Goldstein & Dengel 2012): a row is as normal as the
    product of how often each of its feature values was seen in training.

    Features with at most ``max_bins`` distinct training values get one bin per value; others get
    quantile bins. A value never seen in training (another count, or outside the training range)
    falls in an empty bin, so a change of a kind never seen before is flagged, where an
    Isolation Forest cannot split on a feature that was constant in its training rows.
    ``predict`` flags rows less likely than the ``contamination`` quantile of training rows.
    """

    def __init__(self, max_bins: int = 10, alpha: float = 1.0, contamination: float = 0.01):
        self.max_bins = max_bins
        self.alpha = alpha
        self.contamination = contamination

    def fit(self, X, y=None):
        X = np.asarray(X, dtype="float64")
        n = len(X)
        self.edges_, self.discrete_, self.log_p_ = [], [], []
        for j in range(X.shape[1]):
            x = X[:, j]
            values = np.unique(x)
            discrete = len(values) <= self.max_bins
            edges = values if discrete else np.unique(np.quantile(x, np.linspace(0, 1, self.max_bins + 1)))
            counts = np.bincount(self._bins(x, edges, discrete), minlength=len(edges) + 1)[: len(edges) + 1]
            counts[-1] = 0  # the last slot is the "never seen" bin
            self.edges_.append(edges)
            self.discrete_.append(discrete)
            self.log_p_.append(np.log((counts + self.alpha) / (n + self.alpha * (len(edges) + 1))))
        self.n_features_in_ = X.shape[1]
        self.offset_ = float(np.quantile(self.score_samples(X), self.contamination))
        return self

    @staticmethod
    def _bins(x: np.ndarray, edges: np.ndarray, discrete: bool) -> np.ndarray:
        unseen = len(edges)
        if discrete:
            pos = np.clip(np.searchsorted(edges, x), 0, len(edges) - 1)
            return np.where(edges[pos] == x, pos, unseen)
        inside = (x >= edges[0]) & (x <= edges[-1])
        pos = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
        return np.where(inside, pos, unseen)

    def score_samples(self, X):
        check_is_fitted(self)
        X = np.asarray(X, dtype="float64")
        total = np.zeros(len(X))
        for j, (edges, discrete, log_p) in enumerate(
            zip(self.edges_, self.discrete_, self.log_p_, strict=True)
        ):
            total += log_p[self._bins(X[:, j], edges, discrete)]
        return total

    def decision_function(self, X):
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        return np.where(self.decision_function(X) < 0, -1, 1)
