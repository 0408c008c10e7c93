"""Keep what a teacher face model learned while fine-tuning on other data: knowledge distillation for face_mix.

The loss is Hinton-style: KL(teacher || student) between the temperature-softened outputs, scaled by T**2 so its
gradient does not shrink with T, and taken only on the rows a mask selects (face_mix: the FER2013 images), averaged
over the whole batch so that its weight follows the share of those rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from emolive.core.errors import EmoliveError
from emolive.face.model import build_model
from emolive.models.io import load_config, load_into

log = logging.getLogger(__name__)

SAME_INPUT = ("crop_size", "input_size", "labels")


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """T**2 x KL(softmax(teacher / T) || softmax(student / T)) summed over the masked rows / all rows (N, C)."""
    if temperature <= 0:
        raise ValueError("the distillation temperature must be positive")
    log_p_student = F.log_softmax(student.float() / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher.float() / temperature, dim=1)
    per_row = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1)
    if mask is not None:
        per_row = per_row * mask.to(per_row.dtype)
    return per_row.sum() / max(student.shape[0], 1) * temperature ** 2


class WithBias(torch.nn.Module):
    """A model whose logits get a fixed per-class bias added (a face model's ``logit_bias``: its prior correction)."""

    def __init__(self, model: torch.nn.Module, bias: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("bias", torch.tensor(bias, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + self.bias


def load_teacher(folder: Path, student_config: dict, with_bias: bool = False) -> torch.nn.Module:
    """The teacher model in ``folder`` (eval mode, frozen); it must read the same input as the student.
    ``with_bias``: its logits include its config's ``logit_bias``, so the student learns the corrected prior."""
    try:
        config = load_config(folder)
    except Exception as exc:  # noqa: BLE001 - a missing or broken folder becomes one message
        raise EmoliveError(f"--distill: cannot read a face model in {folder}: {exc}") from None
    for key in SAME_INPUT:
        if config.get(key) != student_config.get(key):
            raise EmoliveError(f"--distill: {folder} differs from the student in {key}: not the same input")
    for key in ("mean", "std"):
        if abs(float(config[key]) - float(student_config[key])) > 0.01:
            raise EmoliveError(f"--distill: {folder} normalises its input differently ({key})")
    teacher: torch.nn.Module = load_into(build_model(config), folder)
    if with_bias:
        teacher = WithBias(teacher, [float(b) for b in config.get("logit_bias") or [0.0] * len(config["labels"])])
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    log.info("distillation teacher: %s%s", folder, " (with its logit bias)" if with_bias else "")
    return teacher
