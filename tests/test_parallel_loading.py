"""Channels load side by side (runtime.parallel): results by key, errors raised in order, the same channels."""

from __future__ import annotations

import threading

import pytest

from emolive.config import InferenceConfig
from emolive.core.errors import ModelError
from emolive.runtime.channels import load_channels
from emolive.runtime.parallel import import_ahead, in_parallel


def test_in_parallel_runs_the_tasks_on_threads_of_their_own_and_keeps_their_order():
    names: dict[str, str] = {}
    barrier = threading.Barrier(3, timeout=10)  # only passes when the three tasks run at the same time

    def task(key: str):
        def run() -> str:
            names[key] = threading.current_thread().name
            barrier.wait()
            return key * 2
        return run

    out = in_parallel({"b": task("b"), "a": task("a"), "c": task("c")})
    assert list(out) == ["b", "a", "c"] and out == {"b": "bb", "a": "aa", "c": "cc"}
    assert len(set(names.values())) == 3


def test_in_parallel_raises_the_first_error_in_order_after_all_ran():
    done = []

    def fail(message: str):
        def run() -> None:
            done.append(message)
            raise ValueError(message)
        return run

    with pytest.raises(ValueError, match="second"):
        in_parallel({"ok": lambda: done.append("ok"), "second": fail("second"), "third": fail("third")})
    assert sorted(done) == ["ok", "second", "third"]


def test_in_parallel_one_after_the_other_when_asked():
    order = []
    out = in_parallel({k: (lambda k=k: order.append(threading.current_thread().name) or k) for k in "xyz"},
                      parallel=False)
    assert out == {"x": "x", "y": "y", "z": "z"}
    assert set(order) == {threading.current_thread().name}


def test_import_ahead_skips_what_is_not_installed():
    import_ahead(("emolive_no_such_module_here",))  # no ImportError


def test_parallel_load_gives_the_same_outputs_as_one_at_a_time(monkeypatch):
    """The parallel load's channels score a fixed face crop, voice window and sentence as the sequential one's."""
    import numpy as np

    from emolive.runtime import channels as module
    from emolive.runtime.selfcheck import probe

    together = load_channels(InferenceConfig(), strict=False)
    monkeypatch.setattr(module, "in_parallel", lambda tasks, parallel=True: in_parallel(tasks, parallel=False))
    apart = load_channels(InferenceConfig(), strict=False)
    assert together.problems == apart.problems
    for kind in ("face", "voice", "text"):
        a, b = probe(kind, getattr(together, kind)), probe(kind, getattr(apart, kind))
        assert a is not None and set(a) == set(b)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], atol=1e-6)


def test_a_broken_model_folder_still_fails_strict_loading(tmp_path):
    with pytest.raises(ModelError):
        load_channels(InferenceConfig(text_model=str(tmp_path / "missing")))
