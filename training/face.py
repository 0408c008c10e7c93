"""Train the face expression CNN on an image folder (FER2013 layout): `python -m training face --data DIR`.

The JPEGs are decoded once into a uint8 array (cached under --cache) so epochs only do tensor work:
batch-wise random affine (rotation, scale, shift), horizontal flip and brightness/contrast jitter,
test-time flip when validating. The training images of ../shared/data/fer2013 are blurred (about a
Gaussian of sigma 3 px, measured; val is sharp), so val and live crops get the same blur (--blur-sigma)
and everything is downsized to --input-size, which loses nothing after such a blur. After training,
softmax temperatures (with and without flip) are fitted on val and written into config.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from emolive.errors import EmoliveError
from emolive.evaluation.metrics import classification_report, format_report
from emolive.face.folder import list_image_folder
from emolive.face.model import DEFAULT_CONFIG, build_model
from emolive.face.predictor import prepare_crops
from emolive.labels import EMOTIONS
from emolive.modelio import CONFIG_NAME, WEIGHTS_NAME, load_config, load_into
from training.calibration import fit_temperature
from training.common import FitConfig, fit

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
    p.add_argument("--blur-sigma", type=float, default=None,
                   help="Gaussian blur applied to val and live crops so they match the training images "
                        f"(default {DEFAULT_CONFIG['blur_sigma']}, or the --init model's)")
    p.add_argument("--train-blur", type=float, default=0.0, help="extra blur applied to the training images")
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
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="off",
                   help="bf16 autocast on CPU (auto: when the CPU has AVX512-BF16/AMX); about 1.6x faster "
                        "there, off by default because the shipped model was trained in fp32")
    p.add_argument("--time-budget", type=float, default=0.0, help="stop after the epoch past this many s")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "emolive-face-cache")
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming OUT/last.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="use only the first N train images (smoke runs)")
    return p.parse_args(list(argv))


def load_split(root: Path, size: int, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """All images of an image folder as (uint8 N x size x size grey, int64 labels), cached as .npz."""
    import cv2

    items, _ = list_image_folder(root)
    key = hashlib.sha1(f"{root.resolve()}|{size}|{len(items)}".encode()).hexdigest()[:16]
    cache = cache_dir / f"{root.name}-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            return data["x"], data["y"]
    images = np.empty((len(items), size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(items):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise EmoliveError(f"unreadable image: {path}")
        if image.shape != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        images[i] = image
    labels = np.array([label for _, label in items], dtype=np.int64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, x=images, y=labels)
    return images, labels


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Batch-wise random affine (+-10 deg, scale 0.9-1.1, shift +-8%), flip and brightness/contrast jitter."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.9, 1.1)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, uniform(-0.16, 0.16)], 1),
                         torch.stack([sin * flip, cos, uniform(-0.16, 0.16)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(0.8, 1.2)[:, None, None, None]
    bright = uniform(-0.1, 0.1)[:, None, None, None]
    return out * contrast + bright


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
    torch.set_num_threads(max(1, args.threads))
    init_config = _init_config(args.init) if args.init is not None else None
    if args.blur_sigma is None:
        args.blur_sigma = float((init_config or DEFAULT_CONFIG)["blur_sigma"])
    if init_config is not None:
        args.input_size = int(init_config["input_size"])
    size = int(DEFAULT_CONFIG["crop_size"])
    x_train, y_train = load_split(args.data / "train", size, args.cache)
    x_val, y_val = load_split(args.data / "val", size, args.cache)
    if args.limit:
        pick = np.random.default_rng(args.seed).permutation(len(x_train))[:args.limit]
        x_train, y_train = x_train[pick], y_train[pick]
    x_train = prepare_crops(x_train, size, args.train_blur, args.input_size)
    x_val = prepare_crops(x_val, size, args.blur_sigma, args.input_size)
    mean, std = float(x_train.mean() / 255), float(x_train.std() / 255)
    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and bf16_supported())
    convs = args.convs_per_stage
    model_config: dict[str, Any] = {
        **DEFAULT_CONFIG, "crop_size": size, "blur_sigma": args.blur_sigma, "input_size": args.input_size,
        "widths": list(args.widths), "convs_per_stage": convs[0] if len(convs) == 1 else convs,
        "embedding_dim": args.embedding_dim, "dropout": args.dropout, "labels": list(EMOTIONS),
        "mean": round(mean, 4), "std": round(std, 4), "temperature": 1.0, "tta_flip": True,
        "data": str(args.data),
        # The loss is built here (FitConfig's class_weights/label_smoothing stay off): the real recipe.
        "recipe": {"loss": "cross-entropy", "label_smoothing": args.label_smoothing,
                   "class_weight_power": args.class_weight_power, "train_blur": args.train_blur,
                   "augment": "affine rot+-10deg scale0.9-1.1 shift+-8%, hflip, contrast0.8-1.2, bright+-0.1",
                   "bf16": use_bf16},
    }
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

    train_set = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val_x, val_y = to_input(x_val), torch.from_numpy(y_val)
    counts = np.bincount(y_train, minlength=len(EMOTIONS)).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** args.class_weight_power, 0.0)
    weights = torch.tensor(weights / weights[counts > 0].mean(), dtype=torch.float32)
    log.info("class weights %s", np.round(weights.numpy(), 3).tolist())

    def loss_fn(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        images, labels = batch
        x = augment(((images.float() / 255 - model_config["mean"]) / model_config["std"])[:, None])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16 and device.type == "cpu"):
            logits = net(x.to(device))
        return F.cross_entropy(logits.float(), labels.to(device), weight=weights.to(device),
                               label_smoothing=args.label_smoothing)

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        device = next(net.parameters()).device
        logits = predict_logits(net, val_x.to(device), bf16=use_bf16).cpu()
        return classification_report(val_y.numpy(), logits.argmax(1).numpy(), EMOTIONS)

    log.info("val blurred with sigma %.2f at %d px, input %d px", args.blur_sigma, size, args.input_size)
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
    return calibrate(args.out, val_x, val_y)


def _init_config(folder: Path) -> dict[str, Any]:
    """The config of the face model to fine-tune (a clear error when the folder holds none)."""
    if not (folder / WEIGHTS_NAME).is_file():
        raise EmoliveError(f"--init {folder}: no {WEIGHTS_NAME} there")
    config = load_config(folder)
    if config.get("labels") != list(EMOTIONS) or "input_size" not in config:
        raise EmoliveError(f"--init {folder}: not a face expression model")
    return config


def calibrate(out: Path, val_x: torch.Tensor, val_y: torch.Tensor) -> int:
    """Fit softmax temperatures of the exported best epoch on val (with and without test-time flip)."""
    config = load_config(out)
    model = load_into(build_model(config), out)
    calibration: dict[str, float] = {}
    reports = {}
    for flip, key in ((True, "temperature"), (False, "temperature_single")):
        logits = predict_logits(model, val_x, flip=flip)
        temperature = fit_temperature(logits, val_y)
        config[key] = round(temperature, 4)
        tag = "flip" if flip else "single"
        calibration[f"val_nll_{tag}_before"] = round(F.cross_entropy(logits, val_y).item(), 4)
        calibration[f"val_nll_{tag}_after"] = round(F.cross_entropy(logits / temperature, val_y).item(), 4)
        reports[tag] = classification_report(val_y.numpy(), logits.argmax(1).numpy(), EMOTIONS)
        calibration[f"val_accuracy_{tag}"] = round(reports[tag]["accuracy"], 4)
    config.setdefault("training", {})["calibration"] = calibration
    tmp = out / (CONFIG_NAME + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    shutil.move(str(tmp), str(out / CONFIG_NAME))
    print(format_report(reports["single"], "val, best epoch, single pass"))
    print(format_report(reports["flip"], "val, best epoch, flip TTA"))
    print("calibration:", json.dumps(calibration))
    return 0
