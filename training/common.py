"""The seeds' training recipe, shared by every model kind.

AdamW + OneCycle or warmup/cosine, gradient clipping, class weights or focal loss, label smoothing,
early stopping on a validation metric, best-epoch export (safetensors + config), resume from the last
epoch, mixed precision on CUDA and DistributedDataParallel when launched by torchrun.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from emolive.core.progress import Progress
from emolive.models.device import limit_torch_threads
from emolive.models.io import save_model

log = logging.getLogger(__name__)


@dataclass
class FitConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "onecycle"  # "onecycle" | "cosine" (linear warmup then cosine) | "constant"
    warmup_frac: float = 0.1
    grad_clip: float = 1.0
    patience: int = 5  # epochs without improvement before stopping
    monitor: str = "macro_f1"  # key of the evaluate() result, higher is better
    loss: str = "ce"  # "ce" | "focal"
    focal_gamma: float = 2.0
    label_smoothing: float = 0.0
    class_weights: bool = True
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    time_budget_s: float = 0.0  # 0: no limit; else stop after the epoch that crosses it
    num_workers: int = 0


@dataclass
class FitHooks:
    """What a command-line wrapper adds to every ``fit()`` a trainer makes (progress JSON, Optuna trials).

    ``overrides``: FitConfig fields replaced; ``progress``: called with each epoch record (after the trainer's
    own callback); ``on_step``: called with (epoch, epochs, step, steps, loss) after every optimiser step;
    ``evaluate_before``: also score the model before the first epoch. Each finished fit appends
    {"before", "after", "out", "monitor"} to ``results``.
    """

    overrides: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[dict[str, Any]], None] | None = None
    on_step: Callable[[int, int, int, int, float], None] | None = None
    evaluate_before: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)


_HOOKS: ContextVar[FitHooks | None] = ContextVar("training_fit_hooks", default=None)


@contextmanager
def fit_hooks(hooks: FitHooks) -> Iterator[FitHooks]:
    """Apply ``hooks`` to every ``fit()`` called inside the ``with`` block (this thread/context only)."""
    token = _HOOKS.set(hooks)
    try:
        yield hooks
    finally:
        _HOOKS.reset(token)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_weight_tensor(labels: np.ndarray | list[int], n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1 (absent classes get weight 0)."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    weights = weights / weights[weights > 0].mean()
    return torch.tensor(weights, dtype=torch.float32)


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al., 2017) with optional class weights and label smoothing."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else None)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, weight=self.weight, reduction="none",
                             label_smoothing=self.label_smoothing)
        pt = torch.softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        return ((1 - pt).clamp_min(0) ** self.gamma * ce).mean()


def make_loss(cfg: FitConfig, weight: torch.Tensor | None) -> nn.Module:
    if not cfg.class_weights:
        weight = None
    if cfg.loss == "focal":
        return FocalLoss(cfg.focal_gamma, weight, cfg.label_smoothing)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing)


def make_scheduler(cfg: FitConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total,
                                                   pct_start=max(cfg.warmup_frac, 0.01))
    if cfg.schedule == "cosine":
        warm = max(1, int(cfg.warmup_frac * total))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    if world > 1:
        return torch.distributed.get_rank(), world
    return 0, 1


LossFn = Callable[[nn.Module, Any, torch.device], torch.Tensor]


def fit(
    model: nn.Module,
    train_set: Dataset,
    loss_fn: LossFn,
    evaluate: Callable[[nn.Module], dict[str, Any]],
    cfg: FitConfig,
    out_dir: Path,
    model_config: dict[str, Any],
    resume: bool = True,
    collate_fn: Callable | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    train_sampler: torch.utils.data.Sampler | None = None,
) -> dict[str, Any]:
    """Train ``model`` and export its best epoch to ``out_dir`` (model.safetensors + config.json).

    ``loss_fn(model, batch, device)`` returns the batch loss; ``evaluate(model)`` returns validation
    metrics containing ``cfg.monitor``. ``out_dir/last.pt`` holds the resumable state (tensors and plain
    values only, loaded with ``weights_only=True``). ``progress`` gets one dict per epoch. ``train_sampler``
    (single process only) replaces the shuffled order, e.g. a weighted sampler that balances sources and classes.
    Returns the best epoch's metrics.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hooks = _HOOKS.get() or FitHooks()
    if hooks.overrides:
        cfg = replace(cfg, **hooks.overrides)
    rank, world = distributed()
    limit_torch_threads(cfg.threads)
    set_seed(cfg.seed + rank)
    device = pick_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    model.to(device)
    net: nn.Module = model
    sampler = train_sampler
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = torch.utils.data.distributed.DistributedSampler(train_set, num_replicas=world, rank=rank,
                                                                  seed=cfg.seed)
    drawn = len(train_sampler) if train_sampler is not None and world == 1 else len(train_set)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=drawn > cfg.batch_size * world, collate_fn=collate_fn,
                        num_workers=cfg.num_workers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(cfg, optimizer, len(loader))
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    state_path = out_dir / "last.pt"
    start_epoch, best, best_metrics, stale, history, before = 0, -math.inf, {}, 0, [], {}
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, stale = state["epoch"] + 1, state["best"], state["stale"]
        _restore_schedule(scheduler, state, cfg.epochs, start_epoch * len(loader))
        best_metrics, history = state.get("best_metrics", {}), state.get("history", [])
        before = state.get("before", {})
        log.info("resumed from %s at epoch %d (best %s %.4f)", state_path, start_epoch, cfg.monitor, best)
    if hooks.evaluate_before and not before:
        model.eval()
        with torch.no_grad():
            before = evaluate(model)

    started = time.monotonic()
    for epoch in range(start_epoch, cfg.epochs):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        net.train()
        total, count = 0.0, 0
        bar = Progress(len(loader), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batches", enabled=rank == 0)
        for step, batch in enumerate(loader):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                loss = loss_fn(net, batch, device)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total += float(loss.detach())
            count += 1
            bar.note = f"loss {total / count:.4f}"
            bar.advance()
            if hooks.on_step is not None and rank == 0:
                hooks.on_step(epoch + 1, cfg.epochs, step + 1, len(loader), total / count)
        bar.close()
        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        score = float(metrics[cfg.monitor])
        record = {"epoch": epoch + 1, "train_loss": total / max(count, 1), **_scalars(metrics)}
        history.append(record)
        improved = score > best
        if improved:
            best, best_metrics, stale = score, metrics, 0
            if rank == 0:
                save_model(model, {**model_config, "training": {"fit": asdict(cfg), "epoch": epoch + 1,
                                                                "val": _scalars(metrics)}}, out_dir)
        else:
            stale += 1
        if rank == 0:
            log.info("epoch %d loss %.4f %s %.4f%s", epoch + 1, record["train_loss"], cfg.monitor, score,
                     " (best)" if improved else "")
            print(f"epoch {epoch + 1}: loss {record['train_loss']:.4f}  {cfg.monitor} {score:.4f}"
                  + ("  *" if improved else ""), flush=True)
            tmp = state_path.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch, "best": best, "stale": stale,
                        "best_metrics": _scalars(best_metrics), "history": history, "before": _scalars(before),
                        "epochs": cfg.epochs}, tmp)
            tmp.replace(state_path)
        if progress is not None:
            progress({**record, "best": best})
        if hooks.progress is not None and rank == 0:
            hooks.progress({**record, "epoch": epoch + 1, "epochs": cfg.epochs, "best": best, "monitor": cfg.monitor,
                            "val": _scalars(metrics)})
        if stale >= cfg.patience:
            if rank == 0:
                print(f"early stop: no {cfg.monitor} gain for {cfg.patience} epochs", flush=True)
            break
        if cfg.time_budget_s and time.monotonic() - started > cfg.time_budget_s:
            if rank == 0:
                print("time budget reached", flush=True)
            break
    if world > 1:
        torch.distributed.barrier()
    hooks.results.append({"before": before, "after": best_metrics, "out": str(out_dir),
                          "monitor": cfg.monitor})
    return best_metrics


def _restore_schedule(scheduler: Any, state: dict[str, Any], epochs: int, done_steps: int) -> None:
    """Reload the schedule; when the epoch count changed since ``state``, replay the new one up to ``done_steps``."""
    if state.get("epochs", epochs) == epochs:
        scheduler.load_state_dict(state["scheduler"])
        return
    log.info("epoch count changed (%s -> %d): continuing the new schedule at step %d",
             state.get("epochs"), epochs, done_steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
        for _ in range(done_steps):
            try:
                scheduler.step()
            except ValueError:  # OneCycle refuses to step past its end: the new run is shorter
                break


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    """The plain-number entries of a metrics dict (what goes into configs and checkpoints)."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}
