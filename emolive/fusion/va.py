"""Where the fused valence and arousal come from: one rule, pure arithmetic.

Each modality contributes its share of the fused estimate (the late fuser's trust-weighted shares, which sum
to 1 over the modalities that count now: a stale or absent channel has share 0). A channel that measures a
dimension itself contributes its own value; for every other share the circumplex place of the *fused*
emotions stands in (``circumplex.valence_arousal``):

- valence = s_text * V_text + (1 - s_text) * V_circumplex
- arousal = s_voice * A_voice + s_text * A_text + (1 - s_voice - s_text) * A_circumplex

V_text, A_text: the text model's EmoBank-trained heads (about the words, not the speaker). A_voice: the voice
model's arousal head (RAVDESS intensity). The face has no V/A of its own, so its share always goes to the
circumplex place. A channel without its own value for a dimension (an older text model, a voice model without
an arousal head) counts as the circumplex there. So: the words' own V/A where the words are trusted and fresh,
the voice's arousal where speech is trusted, the circumplex place of the fused emotions elsewhere.

``channel_va`` is what each channel says on its own (for the per-modality CSV columns and the GUI): its own
values where it has them, else the circumplex place of its own emotions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emolive.core.contracts import ModalityOutput
from emolive.fusion.circumplex import valence_arousal

# The late fuser's order (fusion.late.MODALITIES), repeated so this module needs no torch.
MODALITIES: tuple[str, ...] = ("face", "voice", "text")
# Which channel's own estimate of each dimension the rule uses.
OWN_VALENCE: frozenset[str] = frozenset({"text"})
OWN_AROUSAL: frozenset[str] = frozenset({"voice", "text"})


def fuse_va(outputs: Mapping[str, ModalityOutput | None], shares: Sequence[float], emotion: np.ndarray
            ) -> tuple[float, float]:
    """Fused (valence, arousal) in [0, 1] from per-modality outputs, their shares (in ``MODALITIES`` order,
    summing to 1 or all 0) and the fused emotion distribution."""
    circ_v, circ_a = valence_arousal(emotion)
    valence, arousal = circ_v, circ_a
    for name, share in zip(MODALITIES, shares, strict=True):
        out = outputs.get(name)
        if out is None or not out.present or share <= 0:
            continue
        if name in OWN_VALENCE and out.valence is not None:
            valence += float(share) * (float(out.valence) - circ_v)
        if name in OWN_AROUSAL and out.arousal is not None:
            arousal += float(share) * (float(out.arousal) - circ_a)
    return float(np.clip(valence, 0.0, 1.0)), float(np.clip(arousal, 0.0, 1.0))


def channel_va(output: ModalityOutput | None) -> tuple[float, float] | None:
    """(valence, arousal) of one channel on its own, or None when it has nothing to say now.

    Its own estimate of a dimension where the rule above uses one, else the circumplex place of the
    channel's own emotion probabilities.
    """
    if output is None or not output.present or output.emotion is None:
        return None
    circ_v, circ_a = valence_arousal(np.asarray(output.emotion, dtype=np.float64))
    valence = float(output.valence) if output.modality in OWN_VALENCE and output.valence is not None else circ_v
    arousal = float(output.arousal) if output.modality in OWN_AROUSAL and output.arousal is not None else circ_a
    return valence, arousal
