"""Train the face expression CNN on an image folder (FER2013 layout): `python -m training face --data DIR`.

The images are decoded once into a uint8 array (cached under --cache) so epochs only do tensor work:
batch-wise random affine (rotation, scale, shift), horizontal flip, brightness/contrast jitter and random
erasing, test-time flip when validating. Targets (--targets): the folder's original labels, the FER+ crowd
vote distribution (``ferplus_train.csv`` beside train/, contempt/unknown/NF votes dropped), or a mix of both
(default). On CPUs with native bf16 (AVX512-BF16/AMX) training runs under bf16 autocast. After training,
softmax temperatures (with and without flip) are fitted on val and written into config.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.metrics import classification_report, format_report
from emolive.face.folder import list_image_folder
from emolive.face.model import DEFAULT_CONFIG, build_model
from emolive.face.predictor import prepare_crops
from emolive.models.device import limit_torch_threads
from emolive.models.io import WEIGHTS_NAME, load_config, load_into, save_config
from training.calibration import fit_temperature
from training.common import FitConfig, fit
from training.face_ensemble import combine

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training face", description=__doc__)
    p.add_argument("--data", type=Path, required=True, help="folder with train/ and val/ image folders")
    p.add_argument("--out", type=Path, default=Path("assets/face"), help="model folder to write")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--class-weight-power", type=float, default=0.5,
                   help="class weights = (inverse frequency) ** POWER; 0 disables them")
    p.add_argument("--init", type=Path, default=None,
                   help="fine-tune this face model folder (its architecture and input normalisation are kept; "
                        "the architecture options below are ignored)")
    p.add_argument("--targets", choices=("auto", "original", "ferplus", "mix"), default="auto",
                   help="training targets: the folder labels, the FER+ vote distribution, or "
                        "(1 - W) x original + W x FER+ votes with W = --ferplus-weight; auto: mix when the "
                        "votes file exists, else original")
    p.add_argument("--ferplus-weight", type=float, default=0.4)
    p.add_argument("--ferplus", type=Path, default=None,
                   help="FER+ votes CSV for train (default DATA/ferplus_train.csv)")
    p.add_argument("--erase-prob", type=float, default=0.5, help="random erasing probability per image")
    p.add_argument("--sharp-prob", type=float, default=0.5,
                   help="share of training images copied exactly (flip and whole-pixel shift, no resampling), "
                        "so the model also learns sharp crops")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    p.add_argument("--no-prior-correction", action="store_true",
                   help="keep the class priors of the (FER+-mixed) targets instead of adding the logit bias "
                        "log p(original label) - log p(target) computed on train")
    p.add_argument("--ensemble", type=Path, nargs="+", default=None, metavar="DIR",
                   help="combine these trained face model folders into OUT (logits averaged), then calibrate it "
                        "on val as --calibrate-only does")
    p.add_argument("--calibrate-only", action="store_true",
                   help="do not train: recompute the prior correction and temperatures of the model in OUT")
    p.add_argument("--input-size", type=int, default=DEFAULT_CONFIG["input_size"])
    p.add_argument("--widths", type=int, nargs="+", default=DEFAULT_CONFIG["widths"])
    p.add_argument("--convs-per-stage", type=int, nargs="+", default=DEFAULT_CONFIG["convs_per_stage"],
                   help="conv layers in each stage (one number for all, or one per stage)")
    p.add_argument("--embedding-dim", type=int, default=DEFAULT_CONFIG["embedding_dim"])
    p.add_argument("--dropout", type=float, default=DEFAULT_CONFIG["dropout"])
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--monitor", default="accuracy", choices=("accuracy", "macro_f1", "weighted_f1"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                   help="bf16 autocast on CPU (auto: when the CPU has AVX512-BF16/AMX, where it measured "
                        "2.3-2.9x faster than fp32)")
    p.add_argument("--time-budget", type=float, default=0.0, help="stop after the epoch past this many s")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "emolive-face-cache")
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming OUT/last.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="use only the first N train images (smoke runs)")
    return p.parse_args(list(argv))


def load_split(root: Path, size: int, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images of an image folder as (uint8 N x size x size grey, int64 labels, paths relative to
    ``root.parent``), the arrays cached as .npz."""
    import cv2

    items, _ = list_image_folder(root)
    names = [path.relative_to(root.parent).as_posix() for path, _ in items]
    key = hashlib.sha1(f"{root.resolve()}|{size}|{len(items)}".encode()).hexdigest()[:16]
    cache = cache_dir / f"{root.name}-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache) as data:
                return data["x"], data["y"], names
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("face cache %s is unreadable (%s): decoding the images again", cache, exc)
    images = np.empty((len(items), size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(items):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise EmoliveError(f"unreadable image: {path}")
        if image.shape != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        images[i] = image
    labels = np.array([label for _, label in items], dtype=np.int64)
    if cache is not None:  # atomically: another process (a DDP rank) may be reading or writing the same cache
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            np.savez(handle, x=images, y=labels)
        os.replace(tmp, cache)
    return images, labels, names


def augment(x: torch.Tensor, generator: torch.Generator | None = None, erase_prob: float = 0.0,
            sharp_prob: float = 0.0) -> torch.Tensor:
    """Batch-wise random affine (+-10 deg, scale 0.9-1.1, shift +-8%), flip, brightness/contrast jitter and
    (with probability ``erase_prob`` per image) one erased rectangle of 2-20% of the area.

    Bilinear resampling smooths an image, so a model trained only on resampled images expects that smoothing
    and reads the sharp crops of evaluation and of the live path worse. With probability ``sharp_prob`` an
    image is only flipped and moved by whole pixels (up to +-4), which copies pixels exactly.
    """
    n, _, h, w = x.shape

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    sharp = torch.rand(n, generator=generator) < sharp_prob
    angle = torch.where(sharp, 0.0, uniform(-10, 10) * math.pi / 180)
    scale = torch.where(sharp, 1.0, uniform(0.9, 1.1))
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # a whole-pixel shift in affine_grid's normalised coordinates (align_corners=False) is 2 / size per pixel
    shift_x = torch.where(sharp, torch.randint(-4, 5, (n,), generator=generator) * (2.0 / w), uniform(-0.16, 0.16))
    shift_y = torch.where(sharp, torch.randint(-4, 5, (n,), generator=generator) * (2.0 / h), uniform(-0.16, 0.16))
    theta = torch.stack([torch.stack([cos * flip, -sin, shift_x], 1),
                         torch.stack([sin * flip, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(0.8, 1.2)[:, None, None, None]
    bright = uniform(-0.1, 0.1)[:, None, None, None]
    out = out * contrast + bright
    if erase_prob > 0:
        out = random_erase(out, erase_prob, generator)
    return out


def random_erase(x: torch.Tensor, prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one random rectangle (2-20% of the area, aspect 0.3-3.3) in each image with probability ``prob``."""
    n, _, h, w = x.shape
    area = (torch.rand(n, generator=generator) * 0.18 + 0.02) * h * w
    aspect = torch.exp(torch.rand(n, generator=generator) * (math.log(3.3) - math.log(0.3)) + math.log(0.3))
    eh = (area * aspect).sqrt().clamp(1, h).long()
    ew = (area / aspect).sqrt().clamp(1, w).long()
    y0 = (torch.rand(n, generator=generator) * (h - eh + 1)).long()
    x0 = (torch.rand(n, generator=generator) * (w - ew + 1)).long()
    rows = torch.arange(h)[None, :, None]
    cols = torch.arange(w)[None, None, :]
    inside = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
              & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None]))
    inside &= (torch.rand(n, generator=generator) < prob)[:, None, None]
    return x.masked_fill(inside[:, None], 0.0)


# FER+ vote columns mapped onto labels.EMOTIONS; contempt has no canonical class, unknown/NF are not emotions.
FERPLUS_COLUMNS = {"neutral": "neutral", "happiness": "joy", "sadness": "sadness", "anger": "anger",
                   "fear": "fear", "disgust": "disgust", "surprise": "surprise"}


def load_ferplus(path: Path, names: Sequence[str]) -> np.ndarray:
    """FER+ vote counts (N, 7) in labels.EMOTIONS order for ``names`` (paths as the CSV's ``file`` column);
    rows of files the CSV lacks are all zero."""
    import csv

    if not path.is_file():
        raise EmoliveError(f"FER+ votes not found: {path} (pass --ferplus or --targets original)")
    index = {name: i for i, name in enumerate(names)}
    votes = np.zeros((len(names), len(EMOTIONS)), dtype=np.float32)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("file", *FERPLUS_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise EmoliveError(f"{path}: not a FER+ votes file (columns {missing} missing)")
        for row in reader:
            i = index.get(row["file"])
            if i is None:
                continue
            for column, emotion in FERPLUS_COLUMNS.items():
                votes[i, EMOTIONS.index(emotion)] = float(row[column] or 0)
    return votes


def soft_targets(labels: np.ndarray, votes: np.ndarray | None, mode: str, ferplus_weight: float) -> np.ndarray:
    """Training targets (N, 7): one-hot original labels, the normalised FER+ votes, or their mix.

    Images without usable votes (all zero after dropping contempt/unknown/NF) keep their one-hot label.
    """
    onehot = np.eye(len(EMOTIONS), dtype=np.float32)[labels]
    if mode == "original" or votes is None:
        return onehot
    total = votes.sum(1, keepdims=True)
    dist = np.where(total > 0, votes / np.maximum(total, 1e-9), onehot).astype(np.float32)
    if mode == "ferplus":
        return dist
    w = float(np.clip(ferplus_weight, 0.0, 1.0))
    return ((1.0 - w) * onehot + w * dist).astype(np.float32)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None,
                       label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy against target distributions (N, C), each row weighted by sum_c w_c t_c."""
    n_classes = logits.shape[1]
    if label_smoothing > 0:
        targets = targets * (1 - label_smoothing) + label_smoothing / n_classes
    per_row = -(targets * F.log_softmax(logits, dim=1)).sum(1)
    if weight is None:
        return per_row.mean()
    row_weight = (targets * weight[None]).sum(1)
    return (per_row * row_weight).sum() / row_weight.sum().clamp_min(1e-9)


def bf16_supported() -> bool:
    """Whether this CPU has native bf16 matrix instructions (else bf16 autocast is slower, not faster)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def predict_logits(model: torch.nn.Module, x: torch.Tensor, flip: bool = True, batch: int = 512,
                   bf16: bool = False) -> torch.Tensor:
    """Logits of normalised faces (N, 1, S, S), averaged with the mirrored faces when ``flip``."""
    outs = []
    model.eval()
    use_bf16 = bf16 and x.device.type == "cpu"
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        for i in range(0, len(x), batch):
            chunk = x[i:i + batch]
            logits = model(chunk).float()
            if flip:
                logits = (logits + model(torch.flip(chunk, dims=[3])).float()) / 2
            outs.append(logits)
    return torch.cat(outs)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    for split in ("train", "val"):
        if not (args.data / split).is_dir():
            raise EmoliveError(f"{args.data} must contain train/ and val/ image folders")
    limit_torch_threads(args.threads)
    init_config = _init_config(args.init) if args.init is not None else None
    if init_config is not None:
        args.input_size = int(init_config["input_size"])
    size = int(DEFAULT_CONFIG["crop_size"])
    x_train, y_train, train_names = load_split(args.data / "train", size, args.cache)
    x_val, y_val, val_names = load_split(args.data / "val", size, args.cache)
    votes = None
    if args.targets == "auto":
        args.targets = "mix" if (args.ferplus or args.data / "ferplus_train.csv").is_file() else "original"
    if args.targets != "original":
        votes = load_ferplus(args.ferplus or args.data / "ferplus_train.csv", train_names)
        log.info("FER+ votes for %d of %d train images", int((votes.sum(1) > 0).sum()), len(votes))
    val_votes_path = args.data / "ferplus_val.csv"
    val_votes = load_ferplus(val_votes_path, val_names) if val_votes_path.is_file() else None
    if args.limit:
        pick = np.random.default_rng(args.seed).permutation(len(x_train))[:args.limit]
        x_train, y_train = x_train[pick], y_train[pick]
        votes = votes[pick] if votes is not None else None
    targets = soft_targets(y_train, votes, args.targets, args.ferplus_weight)
    bias = np.zeros(len(EMOTIONS)) if args.no_prior_correction else prior_correction(y_train, targets)
    x_train = prepare_crops(x_train, size, args.input_size)
    x_val = prepare_crops(x_val, size, args.input_size)
    mean, std = float(x_train.mean() / 255), float(x_train.std() / 255)
    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and bf16_supported())
    convs = args.convs_per_stage
    model_config: dict[str, Any] = {
        **DEFAULT_CONFIG, "crop_size": size, "input_size": args.input_size,
        "widths": list(args.widths), "convs_per_stage": convs[0] if len(convs) == 1 else convs,
        "embedding_dim": args.embedding_dim, "dropout": args.dropout, "labels": list(EMOTIONS),
        "mean": round(mean, 4), "std": round(std, 4), "temperature": 1.0, "tta_flip": True,
        "data": str(args.data),
        # The loss is built here (FitConfig's class_weights/label_smoothing stay off): the real recipe.
        "recipe": {"loss": "soft cross-entropy", "targets": args.targets,
                   "ferplus_weight": args.ferplus_weight if args.targets == "mix" else None,
                   "label_smoothing": args.label_smoothing, "class_weight_power": args.class_weight_power,
                   "augment": "affine rot+-10deg scale0.9-1.1 shift+-8%, hflip, contrast0.8-1.2, bright+-0.1, "
                              f"random erasing p={args.erase_prob}, sharp (no resampling) p={args.sharp_prob}",
                   "mixup": args.mixup, "bf16": use_bf16},
    }
    model_config.pop("blur_sigma", None)
    model_config["logit_bias"] = [round(float(b), 5) for b in bias]
    prior = class_prior(y_train, targets, corrected=not args.no_prior_correction)
    model_config["class_prior"] = [round(float(v), 5) for v in prior]
    if init_config is not None:  # keep what the weights depend on: the architecture and the normalisation
        arch_keys = ("arch", "widths", "convs_per_stage", "embedding_dim", "dropout", "mean", "std", "crop_size")
        model_config.update({k: init_config[k] for k in arch_keys if k in init_config})
        model_config["init"] = str(args.init)
    model = build_model(model_config)
    if args.init is not None:
        load_into(model, args.init)
    log.info("model: %d parameters, train %d, val %d", sum(p.numel() for p in model.parameters()),
             len(x_train), len(x_val))

    def to_input(images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images).float() / 255
        return ((x - model_config["mean"]) / model_config["std"])[:, None]

    train_set = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(targets))
    val_x, val_y = to_input(x_val), torch.from_numpy(y_val)
    val_major = (val_votes.argmax(1), val_votes.sum(1) > 0) if val_votes is not None else None
    counts = targets.sum(0).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1e-9)) ** args.class_weight_power, 0.0)
    weights = torch.tensor(weights / weights[counts > 0].mean(), dtype=torch.float32)
    log.info("class weights %s", np.round(weights.numpy(), 3).tolist())
    mix_rng = np.random.default_rng(args.seed)

    def loss_fn(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        images, target = batch
        x = augment(((images.float() / 255 - model_config["mean"]) / model_config["std"])[:, None],
                    erase_prob=args.erase_prob, sharp_prob=args.sharp_prob)
        if args.mixup > 0:
            lam = float(mix_rng.beta(args.mixup, args.mixup))
            perm = torch.randperm(x.shape[0])
            x = lam * x + (1 - lam) * x[perm]
            target = lam * target + (1 - lam) * target[perm]
        x = x.to(device)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16 and device.type == "cpu"):
            logits = net(x)
        return soft_cross_entropy(logits.float(), target.to(device), weights.to(device), args.label_smoothing)

    logit_bias = torch.tensor(bias, dtype=torch.float32)

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        device = next(net.parameters()).device
        logits = predict_logits(net, val_x.to(device), bf16=use_bf16).cpu() + logit_bias
        pred = logits.argmax(1).numpy()
        report = classification_report(val_y.numpy(), pred, EMOTIONS)
        if val_major is not None:
            major, has = val_major
            ferplus = classification_report(major[has], pred[has], EMOTIONS)
            report["ferplus_accuracy"] = ferplus["accuracy"]
            report["ferplus_macro_f1"] = ferplus["macro_f1"]
        return report

    if args.ensemble:
        combine(list(args.ensemble), args.out)
    if args.calibrate_only or args.ensemble:
        config = load_config(args.out)
        config["logit_bias"] = model_config["logit_bias"]
        config["class_prior"] = model_config["class_prior"]
        save_config(config, args.out)
        return calibrate(args.out, val_x, val_y, val_major)
    log.info("targets %s, input %d px, bf16 %s, logit bias %s", args.targets, args.input_size, use_bf16,
             model_config["logit_bias"])
    cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    weight_decay=args.weight_decay,
                    schedule="cosine", warmup_frac=0.05, patience=args.patience, monitor=args.monitor,
                    class_weights=False, seed=args.seed, threads=args.threads, device=args.device,
                    time_budget_s=args.time_budget)
    fit(model, train_set, loss_fn, evaluate, cfg, args.out, model_config, resume=not args.no_resume)
    if not (args.out / WEIGHTS_NAME).is_file():
        raise EmoliveError(f"training produced no model in {args.out}")
    torch.manual_seed(args.seed)
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return 0  # rank 0 alone calibrates and rewrites config.json
    return calibrate(args.out, val_x, val_y, val_major)


def _init_config(folder: Path) -> dict[str, Any]:
    """The config of the face model to fine-tune (a clear error when the folder holds none)."""
    if not (folder / WEIGHTS_NAME).is_file():
        raise EmoliveError(f"--init {folder}: no {WEIGHTS_NAME} there")
    config = load_config(folder)
    if config.get("labels") != list(EMOTIONS) or "input_size" not in config:
        raise EmoliveError(f"--init {folder}: not a face expression model")
    if float(config.get("blur_sigma", 0.0)) > 0:
        raise EmoliveError(f"--init {folder}: a blur-matched model (trained on the old blurred FER2013 copy); "
                           "train a new one instead of fine-tuning it")
    return config


def prior_correction(labels: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Logit bias log p(original label) - log p(target) per class: soft FER+ targets shift the class priors
    (towards neutral); the bias moves the model's priors back to the original labels' (train statistics only)."""
    original = class_prior(labels, targets, corrected=True)
    target = class_prior(labels, targets, corrected=False)
    ok = (original > 0) & (target > 0)
    return np.where(ok, np.log(np.where(ok, original, 1.0)) - np.log(np.where(ok, target, 1.0)), 0.0)


def class_prior(labels: np.ndarray, targets: np.ndarray, corrected: bool) -> np.ndarray:
    """The class shares the model's probabilities carry (fusion divides them out): the original labels' with the
    prior correction, the soft targets' without it (train statistics only)."""
    shares = np.bincount(labels, minlength=targets.shape[1]).astype(np.float64) if corrected \
        else targets.astype(np.float64).sum(0)
    return shares / shares.sum()


def calibrate(out: Path, val_x: torch.Tensor, val_y: torch.Tensor,
              val_major: tuple[np.ndarray, np.ndarray] | None = None) -> int:
    """Fit softmax temperatures of the exported best epoch on val (with and without test-time flip)."""
    config = load_config(out)
    model = load_into(build_model(config), out)
    bias = torch.tensor(config.get("logit_bias") or [0.0] * len(EMOTIONS), dtype=torch.float32)
    calibration: dict[str, float] = {}
    reports = {}
    for flip, key in ((True, "temperature"), (False, "temperature_single")):
        logits = predict_logits(model, val_x, flip=flip) + bias
        temperature = fit_temperature(logits, val_y)
        config[key] = round(temperature, 4)
        tag = "flip" if flip else "single"
        calibration[f"val_nll_{tag}_before"] = round(F.cross_entropy(logits, val_y).item(), 4)
        calibration[f"val_nll_{tag}_after"] = round(F.cross_entropy(logits / temperature, val_y).item(), 4)
        pred = logits.argmax(1).numpy()
        reports[tag] = classification_report(val_y.numpy(), pred, EMOTIONS)
        calibration[f"val_accuracy_{tag}"] = round(reports[tag]["accuracy"], 4)
        if val_major is not None:
            major, has = val_major
            reports[f"{tag}_ferplus"] = classification_report(major[has], pred[has], EMOTIONS)
            calibration[f"val_ferplus_accuracy_{tag}"] = round(reports[f"{tag}_ferplus"]["accuracy"], 4)
    config.setdefault("training", {})["calibration"] = calibration
    save_config(config, out)
    print(format_report(reports["single"], "val, best epoch, single pass"))
    print(format_report(reports["flip"], "val, best epoch, flip TTA"))
    if "flip_ferplus" in reports:
        print(format_report(reports["flip_ferplus"], "val (FER+ majority labels), best epoch, flip TTA"))
    print("calibration:", json.dumps(calibration))
    return 0
