"""Threads' own CPU priority (``OwnThread(nice=...)``): the threads that keep the pace go first."""

from __future__ import annotations

import os
import sys

import pytest

from emolive.core.threads import OwnThread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_a_thread_with_nice_runs_at_a_lower_priority_and_leaves_the_others_alone() -> None:
    seen: dict[str, int] = {}

    class Probe(OwnThread):
        def _main(self) -> None:
            seen["thread"] = os.getpriority(os.PRIO_PROCESS, 0)

    before = os.getpriority(os.PRIO_PROCESS, 0)
    probe = Probe("emolive-test-probe", nice=3)
    probe.start()
    probe.join(5)
    assert seen["thread"] == min(19, before + 3)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the calling thread keeps its priority
