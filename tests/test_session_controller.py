"""The session controller without a window: start, forward only the current pipeline's data, record, swap."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from fakes import Factory, FakeRecorder  # noqa: E402

from emolive.config import AppConfig, with_changes  # noqa: E402
from emolive.gui.interfaces import Sources  # noqa: E402
from emolive.gui.session import SessionController  # noqa: E402


@pytest.fixture
def session(qtbot, demo_clip):  # noqa: ANN001
    factory, recorder = Factory(), FakeRecorder()
    controller = SessionController(AppConfig(), Sources(video=demo_clip), factory, recorder, persist=False)
    controller.made = factory.made
    with qtbot.waitSignal(controller.started, timeout=10_000):
        controller.start()
    yield controller
    controller.shutdown()


def test_the_recorder_subscribes_beside_the_bridge_and_records_only_while_recording(qtbot, session, tmp_path):  # noqa: ANN001
    seen: list = []
    session.estimate.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=5000)
    recorder = session.recorder
    assert recorder.estimates == [] and recorder.attached[0][0] is session.pipeline.clock
    assert session.start_recording(tmp_path / "s") and session.recording_dir == tmp_path / "s"
    qtbot.waitUntil(lambda: session.rows_recorded >= 2, timeout=5000)  # straight from the pipeline, not the GUI
    session.stop_recording()
    assert session.rows_recorded is None and recorder.calls == [("start", tmp_path / "s"), ("stop",)]
    assert recorder.devices["source"]["kind"] == "file" and recorder.config is session.config


def test_a_restart_drops_the_old_pipelines_output(qtbot, session):  # noqa: ANN001
    old_bridge = session.bridge
    with qtbot.waitSignal(session.started, timeout=10_000):
        session.restart(config=with_changes(session.config, "inference", budget_ms=120.0))
    assert len(session.made) == 2 and session.made[0].stopped and old_bridge.closed
    seen: list = []
    session.estimate.connect(seen.append)
    old_bridge.estimate.emit("stale")  # queued before the old pipeline stopped: not forwarded
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=5000)
    assert "stale" not in seen and session.config.inference.budget_ms == 120.0


def test_a_swap_that_fails_keeps_the_config_and_says_why(qtbot, session, tmp_path):  # noqa: ANN001
    problems: list[str] = []
    session.problem.connect(problems.append)
    assert not session.load_model("face", tmp_path / "nowhere")
    assert "Kept the current face model" in problems[-1] and session.made[0].swaps == []
    done: list[str] = []
    session.switch_models(with_changes(session.config, "inference", fusion_model=str(tmp_path / "gone")).inference,
                          done.append)
    assert done and "kept the current models" in done[0] and session.config.inference.fusion_model == ""


def test_threads_a_stop_left_behind_are_kept_for_the_exit(qtbot, session):  # noqa: ANN001
    assert session.left_behind == []
    pipeline = session.pipeline
    pipeline.stop = lambda: ["transcriber"]  # a decode still inside native code when the time ran out
    session.shutdown()
    assert session.left_behind == ["transcriber"]


def test_the_exit_does_not_wait_for_threads_left_behind() -> None:
    import subprocess
    import sys

    code = ("import threading, time\nfrom emolive.core.threads import exit_leaving_threads\n"
            "threading.Thread(target=time.sleep, args=(120,)).start()\nexit_leaving_threads(3, ['transcriber'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and "exiting without waiting for transcriber" in result.stderr
