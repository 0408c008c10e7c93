"""Fine-tune the face CNN on FER2013 (+ FER+ votes) mixed with web photos of real people:
`python -m training face_mix --fer DIR --web DIR --init assets/face --out OUT`.

Sources: FER2013 ``train/`` (48 px grey; targets (1 - W) x original label + W x FER+ vote distribution, as
``training.face``) and ``faces_web`` (96 px colour, one crowd label each, mapped through
``training.face_web.WEB_ALIASES``), whose photos are split by identity (``--web-val-share``, seeded): a person's
photos are all in train or all in validation. Each epoch draws ``--epoch-size`` images with replacement, weighted
so that each source gets its share (``--web-share``) and classes inside a source are drawn in proportion to
count ** ``--class-power``. Every batch goes through ``training.face_augment.webcam_augment`` (colour before the
grey conversion, pose and off-centre boxes, occlusion, low light, blur, noise, JPEG; ``--no-aug`` switches steps
off). Validation each epoch: FER2013 ``val/`` and the web validation split (flip averaging); the epoch with the
best mean of the two macro F1 is exported. The model keeps the ``--init`` model's architecture and 48 px grey
input, so its per-face cost is unchanged. ``--distill TEACHER`` adds a distillation term on the FER2013 rows
(``training.face_distill``) so that the student keeps the teacher's reading of them. ``OUT/last.pt`` is written
after every epoch; ``--resume`` continues from it. At the end softmax temperatures are fitted on both validation
sets together.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset, WeightedRandomSampler

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.metrics import classification_report, format_report
from emolive.face.model import build_model
from emolive.face.predictor import prepare_crops
from emolive.models.device import limit_torch_threads
from emolive.models.io import WEIGHTS_NAME, load_config, load_into, save_config, save_model
from training.calibration import fit_temperature
from training.common import FitConfig, fit
from training.face import _init_config, load_ferplus, load_split, predict_logits, soft_cross_entropy, soft_targets
from training.face_augment import AUGMENTS, AugmentConfig, webcam_augment
from training.face_distill import distill_loss, load_teacher
from training.face_web import (
    balanced_weights,
    expected_shares,
    identity_of,
    identity_split,
    list_web,
    load_colour,
    write_split_folder,
)

log = logging.getLogger(__name__)

FER, WEB = 0, 1
NEGATIVE = ("sadness", "anger", "fear", "disgust")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training face_mix", description=__doc__)
    p.add_argument("--fer", type=Path, required=True, help="FER2013 folder with train/, val/ (+ ferplus_*.csv)")
    p.add_argument("--web", type=Path, required=True, help="faces_web folder: <class>/<photo>")
    p.add_argument("--init", type=Path, required=True, help="face model folder to fine-tune (e.g. assets/face)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write (last.pt, the best epoch)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--epoch-size", type=int, default=12000, help="images drawn per epoch")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--ferplus-weight", type=float, default=0.4)
    p.add_argument("--web-share", type=float, default=0.35, help="share of the draws from the web photos")
    p.add_argument("--class-power", type=float, default=0.5,
                   help="inside a source, class c is drawn in proportion to count(c) ** POWER")
    p.add_argument("--web-val-share", type=float, default=0.2, help="share of web photos (whole people) held out")
    p.add_argument("--no-aug", default="", help=f"comma-separated steps to switch off: {','.join(AUGMENTS)}")
    p.add_argument("--patience", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "emolive-face-cache")
    p.add_argument("--calibrate-only", action="store_true",
                   help="do not train: finish the model in OUT (--bn-refresh, temperatures) as a run's end does")
    p.add_argument("--bn-refresh", type=int, default=0, metavar="N",
                   help="after training, re-estimate the BatchNorm statistics on N un-augmented training crops "
                        "(drawn with the sampling weights); kept only when the validation score rises")
    p.add_argument("--distill", type=Path, default=None, metavar="TEACHER",
                   help="face model folder whose softened outputs on the FER2013 images the student keeps "
                        "(e.g. assets/face): loss = CE + W x T^2 x KL(teacher || student)")
    p.add_argument("--distill-weight", type=float, default=1.0, metavar="W")
    p.add_argument("--distill-t", type=float, default=2.0, metavar="T", help="distillation temperature")
    p.add_argument("--distill-bias", action="store_true",
                   help="the teacher's outputs include its logit_bias (its prior correction) when distilled")
    p.add_argument("--save-epochs", action="store_true",
                   help="also write every epoch's model into OUT/epochs/eN (to gate more than the best one)")
    p.add_argument("--write-val", type=Path, default=None,
                   help="only write the web validation split as a class folder of links (for `emolive eval face`) "
                        "into this folder and stop")
    return p.parse_args(list(argv))


def web_sets(web: Path, val_share: float, seed: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(train items, validation items) of the web folder, split by identity."""
    items, skipped = list_web(web)
    if skipped:
        log.info("web photos skipped: %s", dict(skipped))
    val = identity_split([p.name for p, _ in items], val_share, seed, [y for _, y in items])
    return [it for it, v in zip(items, val, strict=True) if not v], [it for it, v in zip(items, val, strict=True) if v]


def neutral_negative_share(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of the neutral faces predicted as sadness, anger, fear or disgust."""
    neutral = y_true == EMOTIONS.index("neutral")
    if not neutral.any():
        return 0.0
    negative = np.isin(y_pred[neutral], [EMOTIONS.index(e) for e in NEGATIVE])
    return float(negative.mean())


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    for split in ("train", "val"):
        if not (args.fer / split).is_dir():
            raise EmoliveError(f"{args.fer} must contain train/ and val/ image folders")
    try:
        augment_cfg = AugmentConfig().without({s.strip() for s in args.no_aug.split(",") if s.strip()})
    except ValueError as exc:
        raise EmoliveError(f"--no-aug: {exc}") from None
    web_train, web_val = web_sets(args.web, args.web_val_share, args.seed)
    if args.write_val is not None:
        n = write_split_folder(web_val, args.write_val)
        print(f"web validation split: {n} photos linked under {args.write_val}")
        return 0
    if (args.out / "last.pt").is_file() and not args.resume and not args.calibrate_only:
        raise EmoliveError(f"{args.out} holds a checkpoint (last.pt): pass --resume to continue it, "
                           "or choose another --out")
    limit_torch_threads(args.threads)
    init_config = _init_config(args.init)
    size = int(init_config.get("crop_size", 48))
    if int(init_config["input_size"]) != size:
        raise EmoliveError("face_mix keeps the crop size as the input size; the --init model resizes its crops")

    x_fer, y_fer, fer_names = load_split(args.fer / "train", size, args.cache)
    votes_path = args.fer / "ferplus_train.csv"
    votes = load_ferplus(votes_path, fer_names) if votes_path.is_file() else None
    t_fer = soft_targets(y_fer, votes, "mix" if votes is not None else "original", args.ferplus_weight)
    x_web = load_colour(web_train, size, args.cache, "web-train")
    y_web = np.array([y for _, y in web_train], dtype=np.int64)
    t_web = np.eye(len(EMOTIONS), dtype=np.float32)[y_web]
    images = np.concatenate([np.repeat(x_fer[..., None], 3, axis=3), x_web])  # BGR, grey repeated for FER
    labels = np.concatenate([y_fer, y_web])
    sources = np.concatenate([np.full(len(y_fer), FER), np.full(len(y_web), WEB)])
    targets = np.concatenate([t_fer, t_web])
    weights = balanced_weights(labels, sources, {FER: 1.0 - args.web_share, WEB: args.web_share}, args.class_power)
    shares = expected_shares(weights, labels, sources)
    for source, share in shares.items():
        log.info("draw shares %s: %s", ("fer", "web")[source],
                 {e: round(float(v), 3) for e, v in zip(EMOTIONS, share, strict=True)})
    prior = (targets * weights[:, None]).sum(0)
    prior = prior / prior.sum()

    xv_fer, yv_fer, _ = load_split(args.fer / "val", size, args.cache)
    xv_web = load_colour(web_val, size, args.cache, "web-val")
    grey_web = np.stack([_grey(im) for im in xv_web]) if len(xv_web) else np.zeros((0, size, size), np.uint8)
    yv_web = np.array([y for _, y in web_val], dtype=np.int64)
    log.info("train: fer %d, web %d (%d people held out: %d photos)", len(y_fer), len(y_web),
             len({identity_of(p.name) for p, _ in web_val}), len(web_val))

    model_config: dict[str, Any] = dict(init_config)
    for key in ("training", "onnx", "onnx_int8"):
        model_config.pop(key, None)
    model_config.update({
        "init": str(args.init), "data": f"{args.fer} + {args.web}",
        "logit_bias": [0.0] * len(EMOTIONS), "class_prior": [round(float(v), 5) for v in prior],
        "recipe": {"loss": "soft cross-entropy", "targets": "fer: mix, web: one-hot",
                   "ferplus_weight": args.ferplus_weight, "label_smoothing": args.label_smoothing,
                   "web_share": args.web_share, "class_power": args.class_power,
                   "web_val_share": args.web_val_share, "epoch_size": args.epoch_size,
                   "augment": {k: v for k, v in vars(augment_cfg).items()}, "bf16": False,
                   "distill": None if args.distill is None else {
                       "teacher": str(args.distill), "weight": args.distill_weight, "t": args.distill_t,
                       "on": "fer", "teacher_bias": args.distill_bias}},
    })
    if args.distill_t <= 0 or args.distill_weight < 0:
        raise EmoliveError("--distill-t must be positive and --distill-weight not negative")
    teacher = load_teacher(args.distill, model_config, args.distill_bias) if args.distill is not None else None
    model = load_into(build_model(model_config), args.init)
    mean, std = float(model_config["mean"]), float(model_config["std"])

    def norm(grey: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(prepare_crops(grey, size, size)).float() / 255
        return ((x - mean) / std)[:, None]

    val_sets = {"fer": (norm(xv_fer), yv_fer), "web": (norm(grey_web), yv_web)}
    train_set = TensorDataset(torch.from_numpy(images), torch.from_numpy(targets), torch.from_numpy(sources))
    generator = torch.Generator().manual_seed(args.seed)
    sampler = WeightedRandomSampler(torch.from_numpy(weights), args.epoch_size, replacement=True,
                                    generator=generator)
    aug_gen = torch.Generator().manual_seed(args.seed + 1)
    aug_rng = np.random.default_rng(args.seed + 1)

    def loss_fn(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        batch_images, target, source = batch
        x = batch_images.permute(0, 3, 1, 2).float() / 255
        x = ((webcam_augment(x, augment_cfg, aug_gen, aug_rng) - mean) / std).to(device)
        logits = net(x)
        loss = soft_cross_entropy(logits.float(), target.to(device), None, args.label_smoothing)
        if teacher is not None and args.distill_weight > 0:
            with torch.no_grad():
                teacher_logits = teacher.to(device)(x)
            loss = loss + args.distill_weight * distill_loss(logits, teacher_logits, args.distill_t,
                                                             source.to(device) == FER)
        return loss

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (x, y) in val_sets.items():
            pred = predict_logits(net, x).argmax(1).numpy()
            report = classification_report(y, pred, EMOTIONS)
            out[f"{name}_accuracy"] = report["accuracy"]
            out[f"{name}_macro_f1"] = report["macro_f1"]
            out[f"{name}_neutral_recall"] = _recall(y, pred, EMOTIONS.index("neutral"))
            out[f"{name}_neutral_negative"] = neutral_negative_share(y, pred)
        out["score"] = (out["fer_macro_f1"] + out["web_macro_f1"]) / 2
        log.info("val %s", json.dumps({k: round(v, 4) for k, v in out.items()}))
        return out

    def save_epoch(record: dict[str, Any]) -> None:
        save_model(model, {**model_config, "training": {"epoch": record["epoch"], "val": record}},
                   args.out / "epochs" / f"e{record['epoch']}")

    cfg = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                    schedule="cosine", warmup_frac=0.05, patience=args.patience, monitor="score",
                    class_weights=False, seed=args.seed, threads=args.threads, device="cpu")
    if not args.calibrate_only:
        if not args.resume:
            log.info("shipped model before fine-tuning: %s", evaluate(model))
        fit(model, train_set, loss_fn, evaluate, cfg, args.out, model_config, resume=args.resume,
            train_sampler=sampler, progress=save_epoch if args.save_epochs else None)
    if not (args.out / WEIGHTS_NAME).is_file():
        raise EmoliveError(f"no trained model in {args.out}")
    if args.bn_refresh > 0:
        pick = np.random.default_rng(args.seed + 2).choice(len(images), size=args.bn_refresh, p=weights)
        grey = np.stack([_grey(im) for im in images[pick]])
        flip = np.random.default_rng(args.seed + 3).random(len(grey)) < 0.5
        grey[flip] = grey[flip][:, :, ::-1]
        refresh_kept(args.out, norm(grey), evaluate)
    return calibrate(args.out, val_sets)


def refresh_batchnorm(model: torch.nn.Module, x: torch.Tensor, batch: int = 256) -> None:
    """Re-estimate every BatchNorm layer's running mean and variance on ``x`` (a plain average over the batches;
    dropout stays off)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.eval()
    for m in norms:
        m.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()


def refresh_kept(out: Path, x: torch.Tensor, evaluate: Any) -> bool:
    """``refresh_batchnorm`` on the model in ``out``; written back only when the validation score rises."""
    config = load_config(out)
    model = load_into(build_model(config), out)
    before = evaluate(model)
    refresh_batchnorm(model, x)
    after = evaluate(model)
    kept = after["score"] > before["score"]
    print(f"BatchNorm refresh on {len(x)} crops: score {before['score']:.4f} -> {after['score']:.4f} "
          f"({'kept' if kept else 'not kept'})", flush=True)
    config.setdefault("training", {})["bn_refresh"] = {
        "n": len(x), "kept": kept, "before": {k: round(float(v), 4) for k, v in before.items()},
        "after": {k: round(float(v), 4) for k, v in after.items()}}
    if kept:
        save_model(model, config, out)
    else:
        save_config(config, out)
    return kept


def _grey(bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def _recall(y: np.ndarray, pred: np.ndarray, label: int) -> float:
    mask = y == label
    return float((pred[mask] == label).mean()) if mask.any() else 0.0


def calibrate(out: Path, val_sets: dict[str, tuple[torch.Tensor, np.ndarray]]) -> int:
    """Fit softmax temperatures (flip and single pass, after the config's ``logit_bias``) of the model in ``out``
    on both validation sets together and print each set's report."""
    config = load_config(out)
    model = load_into(build_model(config), out)
    bias = torch.tensor(config.get("logit_bias") or [0.0] * len(EMOTIONS), dtype=torch.float32)
    x = torch.cat([v[0] for v in val_sets.values()])
    y = torch.from_numpy(np.concatenate([v[1] for v in val_sets.values()]))
    calibration: dict[str, float] = {}
    for flip, key in ((True, "temperature"), (False, "temperature_single")):
        logits = predict_logits(model, x, flip=flip) + bias
        temperature = fit_temperature(logits, y)
        config[key] = round(temperature, 4)
        calibration[f"nll_{'flip' if flip else 'single'}"] = round(
            F.cross_entropy(logits / temperature, y).item(), 4)
    for name, (xs, ys) in val_sets.items():
        pred = (predict_logits(model, xs) + bias).argmax(1).numpy()
        print(format_report(classification_report(ys, pred, EMOTIONS), f"{name} validation, best epoch, flip"))
        calibration[f"{name}_neutral_negative"] = round(neutral_negative_share(ys, pred), 4)
    config.setdefault("training", {})["calibration"] = calibration
    save_config(config, out)
    print("calibration:", json.dumps(calibration))
    return 0
