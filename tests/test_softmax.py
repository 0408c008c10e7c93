"""emolive.core.softmax gives SciPy's softmax and log-softmax to the bit (the channels' outputs do not change)."""

from __future__ import annotations

import numpy as np
import pytest

from emolive.core.softmax import log_softmax, softmax

special = pytest.importorskip("scipy.special")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_equal_to_scipy_bit_for_bit(dtype: type, axis: int | None) -> None:
    rng = np.random.default_rng(7)
    for scale in (0.1, 3.0, 80.0):
        x = (scale * rng.standard_normal((5, 7))).astype(dtype)
        ours, theirs = softmax(x, axis=axis), special.softmax(x, axis=axis)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
        ours, theirs = log_softmax(x, axis=axis), special.log_softmax(x, axis=axis)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_non_finite_maxima_as_scipy() -> None:
    x = np.array([[1.0, -np.inf, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]])
    with np.errstate(invalid="ignore"):
        assert np.array_equal(log_softmax(x, axis=1), special.log_softmax(x, axis=1), equal_nan=True)
        assert np.array_equal(softmax(x, axis=1), special.softmax(x, axis=1), equal_nan=True)
    assert log_softmax(np.array(3.0)) == special.log_softmax(np.array(3.0))
