"""Which torch device the models run on: CUDA when asked for (or "auto") and usable, else the CPU."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def resolve_device(requested: str = "auto", runtime: str = "torch") -> str:
    """"auto" -> "cuda" if a GPU is usable, else "cpu"; "cuda" without a GPU falls back to "cpu" with a warning.

    With ``runtime`` "onnx" a GPU is usable when onnxruntime has its CUDA provider (onnxruntime-gpu); torch is
    not imported then.
    """
    requested = (requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        log.warning("unknown inference device %r: using the CPU", requested)
        return "cpu"
    if requested == "cpu":
        return "cpu"
    if runtime == "onnx":
        from emolive.models.onnxrt import cuda_usable

        usable = cuda_usable()
    else:
        import torch

        try:
            usable = torch.cuda.is_available() and torch.cuda.device_count() > 0
        except Exception:  # a broken driver raises here on some systems
            usable = False
    if usable:
        return "cuda" if requested == "auto" else requested
    if requested != "auto":
        log.warning("CUDA requested but not available: running on the CPU")
    return "cpu"


def is_cuda_error(exc: BaseException) -> bool:
    """True for the errors a failing GPU raises (out of memory, driver or kernel failures)."""
    text = f"{type(exc).__name__}: {exc}".lower()
    return "cuda" in text or "cublas" in text or "cudnn" in text or "out of memory" in text


def limit_torch_threads(threads: int) -> None:
    """The one place torch's intra-op thread pool is capped (the app shares the machine's cores); ``threads`` < 1
    counts as 1. Nothing happens while torch is not loaded: the ONNX runtime never imports it."""
    torch = sys.modules.get("torch")
    if torch is None:
        return

    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def limit_native_threads(threads: int) -> None:
    """Cap the BLAS and OpenMP thread pools loaded so far (numpy's OpenBLAS, OpenMP runtimes) to ``threads``.

    Their idle threads spin between calls: measured here, two OpenBLAS threads used by Whisper's log-mel while
    the transcriber decodes made the voice window p95 40 ms instead of 17 ms on a 2-core machine.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=max(1, int(threads)))
