"""Entry point of the frozen app.

``emolive ARGS`` runs the usual command line. ``emolive -m training KIND ...`` runs a trainer: the Fine-tune
dialog starts ``[sys.executable, "-m", "training", ...]``, and in a bundle ``sys.executable`` is this program.
``freeze_support`` lets ``emolive analyze --workers N`` start its spawned worker processes.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["-m", "training"]:
        if importlib.util.find_spec("torch") is None:  # the run-time build (no torch) bundles no trainers
            print("emolive: this build runs the models only; training and fine-tuning need the full install "
                  "(pip install '.[train]' in a checkout)", file=sys.stderr)
            return 2
        from training.cli import main as training_main

        return training_main(argv[2:])
    from emolive.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
