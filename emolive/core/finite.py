"""Outputs that are not finite (NaN or infinity) must not reach the fusion: they are dropped with a reason."""

from __future__ import annotations

import math
from dataclasses import replace

from emolive.core.contracts import ModalityOutput

NON_FINITE_REASON = "output not finite (dropped)"


def non_finite_fields(output: ModalityOutput) -> list[str]:
    """The names of the output's fields that hold NaN or infinity (empty when all is finite)."""
    bad: list[str] = []
    for name in ("emotion", "sentiment"):
        values = getattr(output, name)
        if values is not None and not all(math.isfinite(v) for v in values):
            bad.append(name)
    for name in ("valence", "arousal", "quality"):
        value = getattr(output, name)
        if value is not None and not math.isfinite(value):
            bad.append(name)
    return bad


def finite_or_dropped(output: ModalityOutput | None) -> tuple[ModalityOutput | None, list[str]]:
    """``output`` unchanged when finite (or absent), else the same channel marked not present; the bad fields."""
    if output is None or not output.present:
        return output, []
    bad = non_finite_fields(output)
    if not bad:
        return output, []
    dropped = replace(output, present=False, emotion=None, sentiment=None, valence=None, arousal=None,
                      quality=0.0, embedding=None, head_input=None, reason=NON_FINITE_REASON)
    return dropped, bad
