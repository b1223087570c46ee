"""The data-scaling law of the scaling study: MAP against log2(pairs), fitted by least squares, with the
uncertainty of the fitted line and what it implies beyond the measured range.

A straight line in log2(pairs) is the simplest law that such curves follow over a few doublings (each doubling of
the data adds the same number of MAP points); its slope is "MAP per doubling". Pure functions, shapes given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class LogFit:
    """``y = intercept + slope * log2(pairs)``, fitted on ``n`` runs; ``cov`` [2, 2] is the covariance of
    (intercept, slope) from the residuals and ``sigma2`` their variance, the spread of one run about the line
    (both None with fewer than 3 runs: no residual degree of freedom)."""

    intercept: float
    slope: float
    cov: np.ndarray | None
    n: int
    sigma2: float | None = None

    def predict(self, pairs) -> np.ndarray:
        """The fitted MAP at ``pairs`` [M]."""
        return self.intercept + self.slope * np.log2(np.asarray(pairs, dtype=np.float64))

    def band(self, pairs, level: float = 0.95, new_run: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``level`` confidence band of the fitted line at ``pairs`` [M] (Student t, n - 2 degrees of
        freedom): (low [M], high [M]). ``new_run`` widens it to the prediction interval of one new run at
        ``pairs`` (the line's variance plus ``sigma2``): what a single training run there may give. Raises
        ValueError when the fit has no covariance."""
        if self.cov is None or self.sigma2 is None:
            raise ValueError(f"a band needs at least 3 runs, the fit has {self.n}")
        x = np.log2(np.asarray(pairs, dtype=np.float64))
        design = np.stack([np.ones_like(x), x], axis=1)
        se = np.sqrt(np.einsum("mi,ij,mj->m", design, self.cov, design) + (self.sigma2 if new_run else 0.0))
        half = stats.t.ppf(0.5 + level / 2, self.n - 2) * se
        mid = self.predict(pairs)
        return mid - half, mid + half

    def pairs_for(self, target: float) -> float:
        """The pairs at which the fitted line reaches ``target`` MAP (inf when the slope is not positive)."""
        if self.slope <= 0:
            return math.inf
        return float(2 ** ((target - self.intercept) / self.slope))


def fit_log2(pairs, values) -> LogFit:
    """Least squares of ``values`` [N] on log2(``pairs``) [N] (N >= 2 runs, at least 2 distinct sizes).

    >>> fit = fit_log2([1000, 2000, 4000, 8000], [30.0, 31.0, 32.0, 33.0])
    >>> round(fit.slope, 6), round(float(fit.predict([16000])[0]), 6), round(fit.pairs_for(34.0))
    (1.0, 34.0, 16000)
    """
    x = np.log2(np.asarray(pairs, dtype=np.float64))
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or len(np.unique(x)) < 2:
        raise ValueError(f"a fit needs at least 2 distinct sizes, got pairs {list(pairs)}")
    design = np.stack([np.ones_like(x), x], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    cov = sigma2 = None
    if len(x) >= 3:
        residual = y - design @ np.array([intercept, slope])
        sigma2 = float(residual @ residual) / (len(x) - 2)
        cov = sigma2 * np.linalg.inv(design.T @ design)
    return LogFit(float(intercept), float(slope), cov, len(x), sigma2)
