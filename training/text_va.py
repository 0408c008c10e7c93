"""Add valence/arousal to a fine-tuned text model, trained on EmoBank:
`python -m training text --va-data ../shared/data/emobank/emobank_train_dev.csv --init assets/text --out OUT`.

The V/A branch forks off the encoder below its last ``--va-layers`` layer(s): it gets its own copies of those
layers (started from the model's) and a small sigmoid head, so one forward pass gives emotion, sentiment,
valence and arousal while the emotion/sentiment path stays exactly as it was. The shared lower layers are
frozen: their token states at the fork are computed once and cached (``--cache-dir``). Stage 1 fits the head
on the frozen branch's embeddings; stage 2 fine-tunes the branch layers with the head (``training.common.fit``:
checkpointed in OUT/va_branch/last.pt and resumable). Loss: (1 - CCC) per dimension plus the squared error;
the best epoch is chosen on EmoBank dev by mean CCC. Ratings map to [0, 1] as (x - 1) / 4.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, TensorDataset

from emolive.core.errors import EmoliveError
from emolive.evaluation.va import va_report
from emolive.models.device import limit_torch_threads
from emolive.models.io import WEIGHTS_NAME, load_config, load_into, save_model
from emolive.text.data import RatedText, load_va_csv
from emolive.text.model import TunedTextModel, VABranch, VAHead, rating_to_unit
from training.common import FitConfig, fit

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training text --va-data CSV", description=__doc__.splitlines()[0])
    p.add_argument("--va-data", type=Path, required=True,
                   help="CSV with text,V,A,split columns (EmoBank's emobank_train_dev.csv)")
    p.add_argument("--init", type=Path, required=True, help="the fine-tuned text model to extend (assets/text)")
    p.add_argument("--out", type=Path, required=True, help="output folder (the whole text model)")
    p.add_argument("--va-layers", type=int, default=1, help="encoder layers the V/A branch owns (fork depth)")
    p.add_argument("--va-hidden", type=int, default=128, help="hidden units of the V/A head")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--head-epochs", type=int, default=30, help="stage 1: head alone on frozen embeddings")
    p.add_argument("--head-lr", type=float, default=2e-3)
    p.add_argument("--epochs", type=int, default=6, help="stage 2: branch layers + head")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--mse-weight", type=float, default=1.0, help="weight of the squared error next to 1 - CCC")
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time-budget", type=float, default=0.0, help="stage 2 seconds (0: no limit)")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/emolive_text_cache"),
                   help="where the frozen lower layers' token states are cached")
    p.add_argument("--no-resume", action="store_true", help="ignore OUT/va_branch/last.pt")
    p.add_argument("--weak-meld", type=Path, default=None,
                   help="MELD train CSV: its emotion labels' circumplex places as extra, weak V/A targets (stage 2)")
    p.add_argument("--weak-weight", type=float, default=0.3, help="weight of the weak targets' squared error")
    return p.parse_args(list(argv))


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, mse_weight: float = 1.0) -> torch.Tensor:
    """Sum over columns of (1 - CCC) on the batch, plus ``mse_weight`` x the mean squared error."""
    mp, mt = pred.mean(0), target.mean(0)
    vp, vt = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - mp) * (target - mt)).mean(0)
    ccc = 2 * cov / (vp + vt + (mp - mt) ** 2).clamp_min(1e-8)
    return (1 - ccc).sum() + mse_weight * ((pred - target) ** 2).mean(0).sum()


class PaddedBatches(Dataset):
    """Batches of fork states padded to the longest row: (states [B, T, D], mask [B, T], targets [B, 2]).

    Rows are shuffled, then sorted by length inside pools of 20 batches (little padding, varied batches).
    Items also carry a flag [1] saying whether the targets are weak (``weak``).
    """

    def __init__(self, states: Sequence[torch.Tensor], targets: np.ndarray, batch_size: int, seed: int = 0,
                 shuffle: bool = True, weak: bool = False) -> None:
        self.weak = torch.tensor([weak])
        order = list(range(len(states)))
        rng = random.Random(seed)
        if shuffle:
            rng.shuffle(order)
        pool = batch_size * 20
        self.items: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start:start + pool], key=lambda i: states[i].shape[0])
            self.items += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
        if shuffle:
            rng.shuffle(self.items)
        self.states = states
        self.targets = torch.as_tensor(targets, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = self.items[i]
        rows = [self.states[j] for j in idx]
        length = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), length, rows[0].shape[1])
        mask = torch.zeros(len(rows), length)
        for k, r in enumerate(rows):
            x[k, :r.shape[0]] = r.float()
            mask[k, :r.shape[0]] = 1.0
        return x, mask, self.targets[idx], self.weak


def fork_states(channel, model_dir: Path, texts: Sequence[str], n_branch: int, cache_dir: Path
                ) -> list[torch.Tensor]:
    """Token states (float16 [T, D]) of each text at the input of the encoder's last ``n_branch`` layers."""
    digest = hashlib.sha256("\x00".join([str(n_branch), _checksum(model_dir), *texts]).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"text_va_fork_{digest}.pt"
    if path.is_file():
        log.info("fork states of %d texts read from %s", len(texts), path)
        return torch.load(path, weights_only=True)
    log.info("computing the frozen lower layers' states of %d texts (cached to %s)", len(texts), path)
    out = [s.half() for s in channel.encoder.fork_states(list(texts), n_branch)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


def _checksum(model_dir: Path) -> str:
    return hashlib.sha256((Path(model_dir) / WEIGHTS_NAME).read_bytes()).hexdigest()


def predict(branch: VABranch, dataset: PaddedBatches, n: int) -> np.ndarray:
    """(valence, arousal) [n, 2] of every row of ``dataset`` in the original order."""
    out = np.zeros((n, 2))
    branch.eval()
    with torch.no_grad():
        for i in range(len(dataset)):
            x, mask, *_ = dataset[i]
            out[dataset.items[i]] = branch(x, mask).numpy()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    limit_torch_threads(args.threads)
    torch.manual_seed(args.seed)
    base = load_config(args.init)
    n_tuned = int(base.get("finetune_layers", 0))
    if n_tuned < args.va_layers or args.va_layers < 1:
        raise EmoliveError(f"{args.init} tunes {n_tuned} layer(s): the V/A branch needs 1..{n_tuned}")
    train = [r for r in load_va_csv(args.va_data, split="train") if r.text]
    dev = [r for r in load_va_csv(args.va_data, split="dev") if r.text]
    y_tr, y_dev = _targets(train), _targets(dev)
    from emolive.text.channel import TextChannel

    channel = TextChannel(args.init, threads=args.threads, runtime="torch")
    states = fork_states(channel, args.init, [r.text for r in train + dev], args.va_layers, args.cache_dir)
    weak_set = None
    if args.weak_meld is not None:  # computed (and cached) while the encoder is loaded
        weak_set = _weak_meld(args, lambda texts: fork_states(channel, args.init, texts, args.va_layers,
                                                              args.cache_dir))
    s_tr, s_dev = states[:len(train)], states[len(train):]
    encoder_layers = channel.encoder.model.encoder.layer
    tuned = list(encoder_layers[len(encoder_layers) - n_tuned:])
    model = TunedTextModel(tuned, channel.head)
    branch = VABranch([copy.deepcopy(layer) for layer in tuned[n_tuned - args.va_layers:]],
                      VAHead(int(base["head"]["embed_dim"]), args.va_hidden, args.dropout))
    dev_set = PaddedBatches(s_dev, y_dev, 128, shuffle=False)
    out_branch = args.out / "va_branch"

    def evaluate(net: torch.nn.Module) -> dict[str, Any]:
        rep = va_report(y_dev, predict(net, dev_set, len(dev)))
        return {**rep, "score": (rep["valence_ccc"] + rep["arousal_ccc"]) / 2}

    # Stage 1: the head alone on the frozen branch's pooled embeddings.
    head_out = out_branch / "head"
    if not (head_out / WEIGHTS_NAME).is_file():
        e_tr, e_dev = _embeddings(branch, s_tr), _embeddings(branch, s_dev)
        head_fit = FitConfig(epochs=args.head_epochs, batch_size=128, lr=args.head_lr, weight_decay=args.weight_decay,
                             schedule="onecycle", patience=5, monitor="score", class_weights=False, seed=args.seed,
                             threads=args.threads, device="cpu")

        def head_loss(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
            x, y = (b.to(device) for b in batch)
            return ccc_loss(net(x), y, args.mse_weight)

        def head_eval(net: torch.nn.Module) -> dict[str, Any]:
            with torch.no_grad():
                rep = va_report(y_dev, net(e_dev).numpy())
            return {**rep, "score": (rep["valence_ccc"] + rep["arousal_ccc"]) / 2}

        print("stage 1: V/A head on the frozen branch", flush=True)
        fit(branch.head, TensorDataset(e_tr, torch.from_numpy(y_tr).float()), head_loss, head_eval, head_fit,
            head_out, {"kind": "text_va_head", "head": branch.head.config()}, resume=not args.no_resume)
    load_into(branch.head, head_out)
    stage1 = evaluate(branch)
    print(f"stage 1 dev: valence CCC {stage1['valence_ccc']:.4f}  arousal CCC {stage1['arousal_ccc']:.4f}", flush=True)

    # Stage 2: the branch's layers and the head together.
    cfg = FitConfig(epochs=args.epochs, batch_size=1, lr=args.lr, weight_decay=args.weight_decay, schedule="onecycle",
                    patience=args.patience, monitor="score", class_weights=False, seed=args.seed,
                    threads=args.threads, device="cpu", time_budget_s=args.time_budget)
    train_set: Dataset = PaddedBatches(s_tr, y_tr, args.batch_size, seed=args.seed)
    if weak_set is not None:
        train_set = ConcatDataset([train_set, weak_set])

    def loss_fn(net: torch.nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, mask, y, weak = (b.to(device) for b in batch)
        pred = net(x, mask)
        if bool(weak.item()):
            return args.weak_weight * ((pred - y) ** 2).mean(0).sum()
        return ccc_loss(pred, y, args.mse_weight)

    va_config = {"layers": args.va_layers, "head": branch.head.config()}
    stage1_state = copy.deepcopy(branch.state_dict())
    if args.epochs > 0:
        print("stage 2: branch layers + head", flush=True)
        fit(branch, train_set, loss_fn, evaluate, cfg, out_branch, {"kind": "text_va_branch", "va": va_config},
            resume=not args.no_resume, collate_fn=lambda b: b[0])
        load_into(branch, out_branch)
    final = evaluate(branch)
    if final["score"] < stage1["score"]:
        log.warning("stage 2 did not beat stage 1 on dev; keeping stage 1")
        branch.load_state_dict(stage1_state)
        final = stage1
    full = TunedTextModel(model.layers, model.head, branch)
    config = {k: v for k, v in base.items()}
    dev_va = {k: v for k, v in final.items() if k != "score"}
    config["va"] = {**va_config, "data": {"csv": str(args.va_data), "n_train": len(train), "n_dev": len(dev)},
                    "scale": "EmoBank ratings 1-5 mapped to [0, 1] as (x - 1) / 4",
                    "dev": dev_va, "stage1_dev": {k: v for k, v in stage1.items() if k != "score"},
                    "fit": asdict(cfg), "options": {k: (str(v) if isinstance(v, Path) else v)
                                                    for k, v in vars(args).items()}}
    save_model(full, config, args.out)
    metrics_path = args.out / "dev_metrics.json"
    base_metrics = json.loads((args.init / "dev_metrics.json").read_text()) if (
        args.init / "dev_metrics.json").is_file() else {}
    metrics_path.write_text(json.dumps({**base_metrics, "valence_arousal_emobank_dev": dev_va}, indent=2) + "\n")
    print(json.dumps({"emobank_dev": dev_va}))
    return 0


def _weak_meld(args: argparse.Namespace, states_of) -> PaddedBatches:
    """MELD train utterances with their emotion label's circumplex place as (weak) V/A targets."""
    from emolive.fusion.circumplex import AROUSAL, VALENCE
    from emolive.text.data import load_meld_csv

    rows = [r for r in load_meld_csv(args.weak_meld) if r.text]
    targets = np.stack([VALENCE[[r.emotion for r in rows]], AROUSAL[[r.emotion for r in rows]]], 1)
    return PaddedBatches(states_of([r.text for r in rows]), targets, args.batch_size, seed=args.seed + 1, weak=True)


def _targets(rows: Sequence[RatedText]) -> np.ndarray:
    return rating_to_unit(np.array([[r.valence, r.arousal] for r in rows])).astype(np.float32)


def _embeddings(branch: VABranch, states: Sequence[torch.Tensor]) -> torch.Tensor:
    """Pooled, normalised branch embeddings (layers frozen as they are) of every row."""
    holder = VABranch(branch.layers, torch.nn.Identity())  # type: ignore[arg-type]
    data = PaddedBatches(states, np.zeros((len(states), 2)), 128, shuffle=False)
    out = torch.zeros(len(states), branch.head.embed_dim)
    holder.eval()
    with torch.no_grad():
        for i in range(len(data)):
            x, mask, *_ = data[i]
            out[data.items[i]] = holder(x, mask)
    return out
