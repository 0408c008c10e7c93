"""Exponential smoothing of estimates over time (pure, no I/O)."""

from __future__ import annotations

import math

import numpy as np

# The fused estimate's default time constant (``inference.smoothing_s``): 0.25 s was at least as good as 0.5 s on
# every development and one-actor clip of the fusion clip benchmark, at half the lag
# (docs/experiments/2026-12-03-fusion-smoothing.md).
DEFAULT_SMOOTHING_S = 0.25


class ExponentialSmoother:
    """First-order low-pass with time constant ``tau_s`` on irregularly spaced samples.

    The smoothed value lags a step change by ``tau_s`` seconds to reach 63% of it (the stated lag).
    ``tau_s = 0`` passes values through.
    """

    def __init__(self, tau_s: float) -> None:
        self.tau_s = max(0.0, tau_s)
        self._value: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._value, self._t = None, None

    def state(self) -> dict:
        return {"value": None if self._value is None else self._value.copy(), "t": self._t}

    def restore(self, state: dict) -> None:
        value = state["value"]
        self._value = None if value is None else np.array(value, dtype=np.float64)
        self._t = None if state["t"] is None else float(state["t"])

    def update(self, t: float, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self._value is None or self._t is None or self.tau_s == 0.0 or t < self._t:
            self._value, self._t = value.copy(), t
            return self._value.copy()
        alpha = 1.0 - math.exp(-(t - self._t) / self.tau_s)
        self._value = self._value + alpha * (value - self._value)
        self._t = t
        return self._value.copy()
