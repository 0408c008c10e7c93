"""What a webcam adds to a face, as batch augmentations for the face trainer (``training.face_mix``).

``webcam_augment`` takes colour crops (N, 3, H, W, BGR, values 0-1; grey sources repeat one channel) and returns
grey crops (N, 1, H, W, 0-1) as the live path sees them, in this order: white balance and colour cast (per-channel
gains, before the grey conversion, as a camera's colour error reaches the grey image), the grey conversion (the
live path's weights), the head's pose and the detector's box (rotation, scale, off-centre shift, mirror; a share
of images only mirrored and moved by whole pixels so sharp crops are seen too), occlusion (a hand- or glasses-like
patch of flat or noisy grey), low light (darker with a gamma), defocus/motion blur, sensor noise, contrast, and
JPEG/video compression. Each step has a probability in ``AugmentConfig``; ``AUGMENTS`` names the steps that an
ablation can switch off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

# The grey conversion of OpenCV's COLOR_BGR2GRAY (what the live path applies to camera frames).
BGR_TO_GREY = (0.114, 0.587, 0.299)

AUGMENTS = ("colour", "geometry", "offcentre", "occlusion", "lowlight", "blur", "noise", "jpeg")


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each step (a probability of 0 switches the step off)."""

    colour_p: float = 0.8
    colour_gain: float = 0.25  # per-channel gain in 1 +- this
    sharp_p: float = 0.4  # share of images only mirrored and moved by whole pixels
    rotation_deg: float = 12.0
    scale: tuple[float, float] = (0.88, 1.15)
    shift: float = 0.08  # centred shift, share of the side
    offcentre_p: float = 0.3  # of these, a larger shift as a detector's box off the face
    offcentre_shift: float = 0.16
    occlusion_p: float = 0.25
    lowlight_p: float = 0.3
    blur_p: float = 0.3
    noise_p: float = 0.4
    noise_sigma: float = 0.05
    jpeg_p: float = 0.4
    jpeg_quality: tuple[int, int] = (15, 80)
    contrast: tuple[float, float] = (0.7, 1.3)

    def without(self, names: set[str] | frozenset[str]) -> AugmentConfig:
        """A copy with the named steps (``AUGMENTS``) switched off."""
        unknown = set(names) - set(AUGMENTS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)} (known: {', '.join(AUGMENTS)})")
        off: dict[str, object] = {}
        if "colour" in names:
            off["colour_p"] = 0.0
        if "geometry" in names:
            off.update(rotation_deg=0.0, scale=(1.0, 1.0), shift=0.0, offcentre_p=0.0, sharp_p=1.0)
        if "offcentre" in names:
            off["offcentre_p"] = 0.0
        for step in ("occlusion", "lowlight", "blur", "noise", "jpeg"):
            if step in names:
                off[f"{step}_p"] = 0.0
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return AugmentConfig(**{**values, **off})


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def _chance(n: int, p: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) BGR -> (N, 1, H, W) with OpenCV's weights."""
    w = torch.tensor(BGR_TO_GREY, dtype=x.dtype)[None, :, None, None]
    return (x * w).sum(1, keepdim=True)


def colour_cast(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """Per-channel gains (white balance, colour cast) on a share of the images."""
    n = x.shape[0]
    gains = 1.0 + (torch.rand(n, 3, generator=g) * 2 - 1) * cfg.colour_gain
    gains = torch.where(_chance(n, cfg.colour_p, g)[:, None], gains, torch.ones_like(gains))
    return (x * gains[:, :, None, None]).clamp(0, 1)


def geometry(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """Rotation, scale, shift (larger for the off-centre share) and mirror; the sharp share is only mirrored
    and moved by whole pixels (no resampling, so its pixels are copied exactly)."""
    n, _, h, w = x.shape
    sharp = _chance(n, cfg.sharp_p, g)
    angle = torch.where(sharp, 0.0, _uniform(n, -cfg.rotation_deg, cfg.rotation_deg, g) * math.pi / 180)
    scale = torch.where(sharp, 1.0, _uniform(n, cfg.scale[0], cfg.scale[1], g))
    flip = torch.where(_chance(n, 0.5, g), -1.0, 1.0)
    reach = torch.where(_chance(n, cfg.offcentre_p, g), cfg.offcentre_shift, cfg.shift) * 2  # normalised units
    whole = max(1, round(cfg.shift * w / 2))
    shift_x = torch.where(sharp, torch.randint(-whole, whole + 1, (n,), generator=g) * (2.0 / w),
                          (torch.rand(n, generator=g) * 2 - 1) * reach)
    shift_y = torch.where(sharp, torch.randint(-whole, whole + 1, (n,), generator=g) * (2.0 / h),
                          (torch.rand(n, generator=g) * 2 - 1) * reach)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift_x], 1),
                         torch.stack([sin * flip, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def occlude(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """One rectangle of 4-25% of the area (a hand, a microphone, glasses) filled with a flat or noisy grey."""
    n, _, h, w = x.shape
    area = _uniform(n, 0.04, 0.25, g) * h * w
    aspect = torch.exp(_uniform(n, math.log(0.3), math.log(3.3), g))
    eh = (area * aspect).sqrt().clamp(1, h).long()
    ew = (area / aspect).sqrt().clamp(1, w).long()
    y0 = (torch.rand(n, generator=g) * (h - eh + 1)).long()
    x0 = (torch.rand(n, generator=g) * (w - ew + 1)).long()
    rows = torch.arange(h)[None, :, None]
    cols = torch.arange(w)[None, None, :]
    inside = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
              & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None]))
    inside &= _chance(n, cfg.occlusion_p, g)[:, None, None]
    level = torch.rand(n, 1, 1, 1, generator=g)
    texture = level + torch.randn(x.shape, generator=g) * 0.08 * _chance(n, 0.5, g)[:, None, None, None]
    return torch.where(inside[:, None], texture.clamp(0, 1), x)


def low_light(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """Darker (x 0.25-0.8) with a gamma of 1-1.8 on a share of the images."""
    n = x.shape[0]
    pick = _chance(n, cfg.lowlight_p, g)[:, None, None, None]
    gain = _uniform(n, 0.25, 0.8, g)[:, None, None, None]
    gamma = _uniform(n, 1.0, 1.8, g)[:, None, None, None]
    return torch.where(pick, gain * x.clamp_min(0) ** gamma, x)


def blur(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """A Gaussian blur (sigma 0.5-1.5 px, one sigma per batch) or a short horizontal motion blur on a share."""
    n, c, h, w = x.shape
    pick = _chance(n, cfg.blur_p, g)
    if not bool(pick.any()):
        return x
    sigma = float(_uniform(1, 0.5, 1.5, g))
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    sub = x[pick]
    padded = F.pad(sub, (radius, radius, radius, radius), mode="replicate")
    if bool(_chance(1, 0.3, g)):  # motion: along x only, a box of 3-5 px
        length = int(torch.randint(3, 6, (1,), generator=g))
        k = torch.full((length,), 1.0 / length, dtype=x.dtype)
        padded = F.pad(sub, (length // 2, length - 1 - length // 2, 0, 0), mode="replicate")
        out = F.conv2d(padded, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    else:
        out = F.conv2d(padded, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        out = F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    x = x.clone()
    x[pick] = out
    return x


def noise(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """Gaussian sensor noise (sigma up to ``noise_sigma``, stronger in the dark) on a share of the images."""
    n = x.shape[0]
    pick = _chance(n, cfg.noise_p, g)[:, None, None, None]
    sigma = _uniform(n, 0.005, cfg.noise_sigma, g)[:, None, None, None]
    grain = torch.randn(x.shape, generator=g) * sigma * (1.0 + (1.0 - x.clamp(0, 1)))
    return torch.where(pick, x + grain, x).clamp(0, 1)


def contrast(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> torch.Tensor:
    """Contrast about each image's mean and a small brightness offset."""
    n = x.shape[0]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    factor = _uniform(n, cfg.contrast[0], cfg.contrast[1], g)[:, None, None, None]
    offset = _uniform(n, -0.08, 0.08, g)[:, None, None, None]
    return ((x - mean) * factor + mean + offset).clamp(0, 1)


def jpeg(x: torch.Tensor, cfg: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """JPEG round trip at a random quality on a share of the (grey) images."""
    import cv2

    n = x.shape[0]
    pick = np.flatnonzero(rng.random(n) < cfg.jpeg_p)
    if pick.size == 0:
        return x
    x = x.clone()
    for i in pick:
        image = (x[i, 0].numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            x[i, 0] = torch.from_numpy(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0)
    return x


def webcam_augment(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None,
                   rng: np.random.Generator | None = None) -> torch.Tensor:
    """Colour crops (N, 3, H, W, BGR, 0-1) -> augmented grey crops (N, 1, H, W, 0-1); see the module doc."""
    rng = rng if rng is not None else np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    x = colour_cast(x, cfg, g)
    x = to_grey(x)
    x = geometry(x, cfg, g)
    x = occlude(x, cfg, g)
    x = low_light(x, cfg, g)
    x = blur(x, cfg, g)
    x = noise(x, cfg, g)
    x = contrast(x, cfg, g)
    return jpeg(x, cfg, rng)
