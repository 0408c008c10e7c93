"""Optuna search for any trainer: ``python -m training KIND ... --hpo N [--hpo-epochs K] [--hpo-seed S]``.

Each trial runs the trainer's own ``main`` in-process for K epochs with the sampled options appended to its
command line (argparse keeps the last value) into a scratch folder; the trial's score is the best validation
``monitor`` value its ``fit`` reached. After N trials the best options are printed and the final model is trained
with them and the user's own epoch count and output folder. The TPE sampler is seeded, so a search is repeatable.
Searched: learning rate, batch size, class weighting / focal loss (where the trainer has them), and for the
late fusion the initial modality weights.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emolive.core.errors import EmoliveError

log = logging.getLogger(__name__)

Main = Callable[[list[str]], int | None]


@dataclass(frozen=True)
class Param:
    """One searched option: ``flag`` is the trainer's option; None means a FitConfig field (``name``) replaced
    inside ``fit`` (only for settings the trainer reads there, not for ones it uses before calling ``fit``)."""

    name: str
    flag: str | None
    kind: str  # "log" | "float" | "choice"
    low: float = 0.0
    high: float = 1.0
    choices: tuple[Any, ...] = ()
    when: tuple[str, Any] | None = None  # only sampled when another param has this value


SPACES: dict[str, tuple[Param, ...]] = {
    "face": (
        Param("lr", "--lr", "log", 3e-4, 1e-2),
        Param("batch_size", "--batch-size", "choice", choices=(64, 128, 256)),
        Param("class_weight_power", "--class-weight-power", "float", 0.0, 1.0),
    ),
    "voice": (
        Param("lr", "--lr", "log", 3e-4, 1e-2),
        Param("batch_size", "--batch-size", "choice", choices=(16, 32, 64)),
        Param("label_smoothing", "--label-smoothing", "float", 0.0, 0.2),
    ),
    "text": (
        Param("lr", "--lr", "log", 1e-4, 1e-2),
        Param("batch_size", "--batch-size", "choice", choices=(32, 64, 128)),
        Param("loss", "--loss", "choice", choices=("ce", "focal")),
        Param("class_weight_power", "--class-weight-power", "float", 0.0, 1.0),
    ),
    "fusion": (
        Param("lr", "--lr", "log", 5e-3, 0.2),
        Param("batch_size", "--batch-size", "choice", choices=(128, 512, 2048)),
        Param("init_face", None, "float", 0.05, 1.0),
        Param("init_voice", None, "float", 0.05, 1.0),
        Param("init_text", None, "float", 0.05, 1.0),
    ),
    "crossmodal": (
        Param("lr", "--lr", "log", 1e-4, 3e-3),
        Param("batch_size", "--batch-size", "choice", choices=(8, 16, 32)),
        Param("loss", "--loss", "choice", choices=("ce", "focal")),
        Param("focal_gamma", "--focal-gamma", "float", 0.5, 4.0, when=("loss", "focal")),
        Param("class_weights", "--class-weights", "choice", choices=("on", "off")),
    ),
}
# Extra trial options ("{out}" is the trial's folder): voice is scored on its first held-out-actor fold.
TRIAL_ARGS: dict[str, tuple[str, ...]] = {"voice": ("--only-fold", "1", "--work", "{out}/work")}


@dataclass(frozen=True)
class HpoOptions:
    trials: int = 0
    epochs: int = 3
    seed: int = 0
    work: Path | None = None


def split_args(argv: Sequence[str]) -> tuple[HpoOptions, list[str]]:
    """Take ``--hpo N``, ``--hpo-epochs K``, ``--hpo-seed S`` and ``--hpo-dir D`` out of ``argv``."""
    names = {"--hpo": "trials", "--hpo-epochs": "epochs", "--hpo-seed": "seed", "--hpo-dir": "work"}
    values: dict[str, Any] = {}
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        flag, _, inline = items[i].partition("=")
        if flag in names:
            if not inline and i + 1 >= len(items):
                raise EmoliveError(f"{flag} needs a value")
            raw = inline or items[i + 1]
            i += 1 if inline else 2
            try:
                values[names[flag]] = Path(raw) if flag == "--hpo-dir" else int(raw)
            except ValueError as exc:
                raise EmoliveError(f"{flag} needs a whole number, got {raw!r}") from exc
            continue
        rest.append(items[i])
        i += 1
    options = HpoOptions(**values)
    if options.trials < 0 or options.epochs < 1:
        raise EmoliveError("--hpo needs N >= 1 trials and --hpo-epochs K >= 1")
    return options, rest


def space_for(kind: str, argv: Sequence[str]) -> tuple[Param, ...]:
    if kind == "fusion" and option_value(argv, "--arch") == "crossmodal":
        return SPACES["crossmodal"]
    return SPACES[kind]


def option_value(argv: Sequence[str], flag: str) -> str | None:
    """The last value given for ``flag`` in ``argv`` (``--flag v`` or ``--flag=v``), or None."""
    value = None
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif item.startswith(flag + "="):
            value = item.split("=", 1)[1]
    return value


def sample(trial: Any, space: Sequence[Param]) -> dict[str, Any]:
    """Draw one value per param (define-by-run, so conditional params are only drawn when they apply)."""
    params: dict[str, Any] = {}
    for p in space:
        if p.when is not None and params.get(p.when[0]) != p.when[1]:
            continue
        if p.kind == "log":
            params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=True)
        elif p.kind == "float":
            params[p.name] = trial.suggest_float(p.name, p.low, p.high)
        else:
            params[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return params


def apply(params: dict[str, Any], space: Sequence[Param]) -> tuple[list[str], dict[str, Any]]:
    """(extra command-line options, FitConfig overrides) for ``params``."""
    flags = {p.name: p.flag for p in space}
    extra: list[str] = []
    overrides: dict[str, Any] = {}
    for name, value in params.items():
        if name.startswith("init_"):
            continue
        if flags.get(name):
            extra += [flags[name], str(value)]
        else:
            overrides[name] = value
    init = [params[k] for k in ("init_face", "init_voice", "init_text") if k in params]
    if init:
        extra += ["--init-weights", *(f"{w:.6g}" for w in init)]
    return extra, overrides


def _run(main: Main, argv: list[str], overrides: dict[str, Any], progress: Callable | None = None,
         evaluate_before: bool = False, seed: int = 0) -> dict[str, Any]:
    from training.common import FitHooks, fit_hooks, set_seed

    hooks = FitHooks(overrides=overrides, progress=progress, evaluate_before=evaluate_before)
    set_seed(seed)  # the trainer may build its model before fit() seeds: same start for every trial
    with fit_hooks(hooks):
        code = int(main(argv) or 0)
    if code != 0:
        raise EmoliveError(f"the trainer exited with status {code}")
    if not hooks.results:
        raise EmoliveError("the trainer finished without training anything (no fit() call)")
    return hooks.results[-1]


def search(kind: str, main: Main, argv: Sequence[str], options: HpoOptions,
           report: Callable[[str, dict[str, Any]], None] | None = None,
           final_hooks: Any = None) -> dict[str, Any]:
    """Run ``options.trials`` short trials, then the final training with the best options; returns a summary.

    ``report(event, fields)`` receives one "trial" event per finished trial; ``final_hooks`` (FitHooks) is
    used for the final training (e.g. JSON progress).
    """
    import optuna

    from training.common import FitHooks, fit_hooks, set_seed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = space_for(kind, argv)
    work = options.work or Path(tempfile.mkdtemp(prefix=f"emolive-hpo-{kind}-"))
    sampler = optuna.samplers.TPESampler(seed=options.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))

    def objective(trial: optuna.Trial) -> float:
        params = sample(trial, space)
        extra, overrides = apply(params, space)
        overrides["epochs"] = options.epochs
        out = work / f"trial-{trial.number:03d}"
        base = [*argv, *(a.replace("{out}", str(out)) for a in TRIAL_ARGS.get(kind, ()))]

        def prune(record: dict[str, Any]) -> None:
            trial.report(float(record["val"].get(record["monitor"], 0.0)), record["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = _run(main, [*base, *extra, "--epochs", str(options.epochs), "--out", str(out)], overrides, prune,
                      seed=options.seed)
        value = float(result["after"].get(result["monitor"], -math.inf))
        print(f"hpo trial {trial.number}: {result['monitor']} {value:.4f}  {json.dumps(params)}", flush=True)
        if report is not None:
            report("trial", {"number": trial.number, "params": params, "value": value, "of": options.trials})
        return value

    study.optimize(objective, n_trials=options.trials, catch=())
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise EmoliveError("no Optuna trial finished (all were pruned or failed)")
    best = study.best_trial
    print(f"hpo best: trial {best.number} value {best.value:.4f} params {json.dumps(best.params)}", flush=True)
    extra, overrides = apply(best.params, space)
    hooks = final_hooks or FitHooks()
    hooks.overrides = {**overrides, **hooks.overrides}
    set_seed(options.seed)
    with fit_hooks(hooks):
        code = int(main([*argv, *extra]) or 0)
    if code != 0 or not hooks.results:
        raise EmoliveError(f"the final training with the best options failed (status {code})")
    summary = {"best_params": best.params, "best_value": best.value, "trial_epochs": options.epochs,
               "seed": options.seed, "trials": [{"number": t.number, "params": t.params, "value": t.value,
                                                  "state": t.state.name} for t in study.trials],
               "final": hooks.results[-1]["after"], "out": hooks.results[-1]["out"]}
    out = Path(hooks.results[-1]["out"])
    if out.is_dir():
        from emolive.personal.trainer_protocol import plain

        (out / "hpo.json").write_text(json.dumps(plain(summary), indent=2) + "\n")
    return summary
