"""Live outputs with real clients (issue 38): a pylsl inlet and outlet, a websockets client; no mocks.

LSL stays on this machine (tests/lsl_api.cfg via LSLAPICFG, set in conftest.py) and every server binds 127.0.0.1.
Waits are bounded; every output, pipeline and recording is stopped at the end.
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeFace, FakeVoice, estimate

from emolive.config import AppConfig, OutputsConfig
from emolive.core.clock import SessionClock
from emolive.outputs import messages
from emolive.outputs.clock import map_clocks
from emolive.outputs.errors import OutputError
from emolive.outputs.hub import LiveOutputs, check_outputs
from emolive.outputs.layout import channels
from emolive.outputs.markers import NearestStep, predicate
from emolive.outputs.websocket import WebSocketServer

HOP = 0.1


@dataclass
class Session:
    live: LiveOutputs
    folder: Path
    problems: list[str]


@contextmanager
def live_session(tmp_path: Path, outputs: OutputsConfig) -> Iterator[Session]:
    """A real pipeline (fake channels, synthetic source) recording to ``tmp_path`` with the live outputs on."""
    from emolive.capture.synthetic import SyntheticSource
    from emolive.recording import SessionRecorder
    from emolive.runtime.channels import Channels
    from emolive.runtime.pipeline import LivePipeline

    config = replace(AppConfig(), outputs=outputs)
    recorder = SessionRecorder(config, root=tmp_path, raw_audio=False, raw_video=False)
    pipeline = LivePipeline(config, camera=None, microphone=None, asr=False, sinks=[recorder],
                            channels=Channels(face=FakeFace(), voice=FakeVoice()),
                            source_factory=lambda p: SyntheticSource(p.clock, p.frames, p.audio, seconds=120.0,
                                                                     on_event=p.sinks.on_event))
    recorder.attach(pipeline.clock)
    live = LiveOutputs(config, pipeline.clock, write_marker=recorder.add_marker, record_meta=recorder.put_meta,
                       source="test")
    problems = live.start()
    pipeline.sinks.subscribe(live)
    folder = recorder.start()
    pipeline.start()
    try:
        yield Session(live, folder, problems)
    finally:
        pipeline.stop()
        live.stop()
        recorder.stop()


def read_csv(folder: Path) -> list[dict[str, str]]:
    with (folder / "session.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def wait_for(condition, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def as_float32(cell: str) -> np.float32:
    return np.float32(cell) if cell != "" else np.float32(np.nan)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_lsl_stream_markers_and_websocket_match_the_recording(tmp_path) -> None:  # noqa: ANN001
    import pylsl
    from websockets.sync.client import connect

    stim_name = f"emolive-test-stimulus-{os.getpid()}"
    outputs = OutputsConfig(lsl=True, lsl_markers=stim_name, overlay=True, port=0)
    stim = pylsl.StreamOutlet(pylsl.StreamInfo(stim_name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                               f"{stim_name}-id"))
    with live_session(tmp_path, outputs) as session:
        live = session.live
        assert session.problems == [] and live.lsl is not None and live.websocket is not None
        found = pylsl.resolve_bypred(f"type='Emotion' and source_id='{live.lsl.ident}'", 1, 10.0)
        assert len(found) == 1
        inlet = pylsl.StreamInlet(found[0], max_buflen=30)
        info = inlet.info(5.0)
        node, labels = info.desc().child("channels").child("channel"), []
        while not node.empty():
            labels.append((node.child_value("label"), node.child_value("unit"), node.child_value("type")))
            node = node.next_sibling()
        assert info.desc().child("emolive").child_value("version")
        assert info.desc().child("emolive").child("models").child("model").child_value("sha256")
        inlet.open_stream(5.0)
        assert wait_for(lambda: live.inlet.connected)
        with connect(live.websocket.url, open_timeout=5, close_timeout=2) as client:
            hello = json.loads(client.recv(timeout=5))
            pulled: list[tuple[list[float], float]] = []
            received: list[dict] = []
            marker_lsl_t = None
            deadline = time.monotonic() + 20.0
            while (len(pulled) < 25 or len(received) < 25) and time.monotonic() < deadline:
                sample, stamp = inlet.pull_sample(timeout=0.5)
                if sample is not None:
                    pulled.append((sample, stamp))
                if len(pulled) == 10 and marker_lsl_t is None:
                    marker_lsl_t = pylsl.local_clock() - 0.033  # a stimulus shown 33 ms ago
                    stim.push_sample(["stimulus-1"], marker_lsl_t)
                while True:
                    try:
                        received.append(json.loads(client.recv(timeout=0)))
                    except TimeoutError:
                        break
            time.sleep(3 * HOP)  # the steps after the marker arrive, so it is placed
        inlet.close_stream()
        mapping = live.mapping
    rows = read_csv(session.folder)
    steps = {round(float(r["t"]), 4): r for r in rows if r["dominant"]}
    step_times = np.array(sorted(steps))

    # LSL: labels, units and types from the description; every sample equals its step's CSV row (float32)
    assert [label for label, _, _ in labels] == [c.label for c in channels()]
    assert all(unit and kind for _, unit, kind in labels)
    assert len(pulled) >= 25
    for sample, stamp in pulled:
        t = round(mapping.to_session(stamp), 4)
        nearest = step_times[np.argmin(np.abs(step_times - t))]
        assert abs(nearest - t) < 2e-4, f"an LSL sample at session t={t} has no CSV row"
        expected = [as_float32(steps[float(nearest)][label]) for label, _, _ in labels]
        np.testing.assert_array_equal(np.asarray(sample, dtype=np.float32), np.asarray(expected, np.float32))
        assert labels[-1][0] == "person_id" and math.isnan(sample[-1])  # the fake pipeline sees nobody
    stamps = np.array([stamp for _, stamp in pulled])
    assert np.all(np.diff(stamps) > 0)
    assert abs(float(np.median(np.diff(stamps))) - HOP) < 0.005  # on the hop (the worker skips late hops)

    # the marker sent from another program sits in the CSV's marker column at the step nearest its time
    marked = [r for r in rows if r["marker"] == "stimulus-1"]
    assert marker_lsl_t is not None and len(marked) == 1
    expected_t = step_times[np.argmin(np.abs(step_times - mapping.to_session(marker_lsl_t)))]
    assert float(marked[0]["t"]) == pytest.approx(expected_t, abs=1e-4)

    # WebSocket: schema-valid messages whose numbers are the CSV's
    assert messages.problems(hello) == [] and hello["hop_s"] == HOP
    estimates = [m for m in received if m["type"] == "estimate"]
    assert len(estimates) >= 25
    for message in received:
        assert messages.problems(message) == [], message
    for message in estimates:
        row = steps[round(message["t"], 4)]
        assert message["dominant"] == row["dominant"]
        for name, value in message["emotion"].items():
            assert value == float(row[f"emo_{name}"])
        assert message["valence"] == float(row["valence"]) and message["arousal"] == float(row["arousal"])
        assert message["lsl_time"] == pytest.approx(mapping.to_lsl(message["t"]), abs=1e-4)


def test_the_sidecar_keeps_the_clock_mapping(tmp_path) -> None:  # noqa: ANN001
    with live_session(tmp_path, OutputsConfig(lsl=True)) as session:
        assert wait_for(lambda: len(read_csv(session.folder)) >= 3)
        mapping = session.live.mapping
    sidecar = json.loads((session.folder / "session.json").read_text())
    record = sidecar["clock_mapping"]
    assert record["lsl_s"] == pytest.approx(mapping.lsl_s, abs=1e-6)
    assert record["session_s"] == pytest.approx(mapping.session_s, abs=1e-6)
    assert record["lsl_minus_session_s"] == pytest.approx(mapping.lsl_s - mapping.session_s, abs=1e-5)
    assert abs(record["unix_s"] - time.time()) < 600


def test_a_slow_client_is_dropped_and_the_others_go_on() -> None:
    from websockets.sync.client import connect

    server = WebSocketServer(map_clocks(SessionClock()), HOP, port=0, client_queue=8)
    server.start()
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        assert b"101" in slow.recv(200)  # upgraded; from now on it reads nothing
        with connect(server.url, open_timeout=5, close_timeout=2) as good:
            assert json.loads(good.recv(timeout=5))["type"] == "hello"
            assert wait_for(lambda: server.clients == 2)
            got: list[dict] = []
            deadline = time.monotonic() + 30.0
            k = 0
            while server.dropped_clients == 0 and time.monotonic() < deadline:
                server.on_estimate(estimate(k * HOP, transcript="x" * 2000))  # big messages fill its buffers
                k += 1
                while True:
                    try:
                        got.append(json.loads(good.recv(timeout=0)))
                    except TimeoutError:
                        break
                time.sleep(0.002)
            assert server.dropped_clients == 1
            assert wait_for(lambda: server.clients == 1)
            server.on_estimate(estimate(1e6, dominant="anger"))
            deadline = time.monotonic() + 10.0
            while not any(m.get("t") == 1e6 for m in got) and time.monotonic() < deadline:
                with suppress(TimeoutError):
                    got.append(json.loads(good.recv(timeout=1)))
            assert any(m.get("t") == 1e6 and m["dominant"] == "anger" for m in got)
    finally:
        slow.close()
        assert server.stop()


def test_the_stream_is_read_only_and_the_token_is_checked() -> None:
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    server = WebSocketServer(map_clocks(SessionClock()), HOP, port=0, token="s3cret")
    server.start()
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5)
        assert refused.value.response.status_code == 403
        with connect(server.url, open_timeout=5, close_timeout=2) as client:
            assert json.loads(client.recv(timeout=5))["type"] == "hello"
            client.send("stop")
            with pytest.raises(ConnectionClosed):
                client.recv(timeout=5)
                client.recv(timeout=5)
        assert wait_for(lambda: server.clients == 0)
    finally:
        assert server.stop()


def test_another_interface_needs_a_token() -> None:
    with pytest.raises(OutputError, match="token"):
        check_outputs(OutputsConfig(overlay=True, host="0.0.0.0"))
    check_outputs(OutputsConfig(overlay=True, host="0.0.0.0", token="x"))  # accepted (nothing is bound here)
    check_outputs(OutputsConfig(overlay=True))


def test_a_port_in_use_is_one_message_and_the_rest_goes_on(tmp_path) -> None:  # noqa: ANN001
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with live_session(tmp_path, OutputsConfig(lsl=True, overlay=True, port=port)) as session:
            assert wait_for(lambda: len(read_csv(session.folder)) >= 5)
    assert session.problems == [f"port {port} on 127.0.0.1 is in use (another emolive?): choose another with "
                                "outputs.port (or --overlay-port)"]
    assert session.live.lsl is not None and session.live.websocket is None
    assert session.live.lsl.sent >= 1 and len(read_csv(session.folder)) >= 5


def test_lsl_failing_to_load_is_one_message_and_the_overlay_still_runs(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "liblsl-broken.so"
    bad.write_text("not a library")
    code = (
        "import json, sys\n"
        "from emolive.config import AppConfig, OutputsConfig\n"
        "from emolive.core.clock import SessionClock\n"
        "from emolive.outputs.hub import LiveOutputs\n"
        "live = LiveOutputs(AppConfig(outputs=OutputsConfig(lsl=True, lsl_markers='x', overlay=True, port=0)),"
        " SessionClock(), write_marker=lambda label, t: None)\n"
        "problems = live.start()\n"
        "print(json.dumps({'problems': problems, 'ws': live.websocket is not None, 'lsl': live.lsl is not None}))\n"
        "live.stop()\n"
    )
    env = {**os.environ, "PYLSL_LIB": str(bad)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ws"] is True and result["lsl"] is False
    assert len(result["problems"]) == 1 and result["problems"][0].startswith("LSL is not available: its library")
    assert "\n" not in result["problems"][0]


def test_markers_go_to_the_nearest_step_and_the_predicate_is_safe() -> None:
    steps = NearestStep()
    for t in (1.0, 1.1, 1.2):
        steps.add(t)
    assert steps.nearest(1.04) == 1.0 and steps.nearest(1.16) == 1.2 and steps.nearest(5.0) == 1.2
    assert steps.latest() == 1.2
    assert "name='psychopy' or type='psychopy'" in predicate("psychopy")
    with pytest.raises(OutputError):
        predicate("x' or name='y")


def test_the_schema_check_finds_what_is_wrong() -> None:
    mapping = map_clocks(SessionClock())
    good = messages.EstimateMessages(mapping)(estimate(1.0))
    assert messages.problems(good) == [] and good["lsl_time"] is None
    assert messages.problems({**good, "version": 2}) == ["version must be 1"]
    broken = {**good, "emotion": {"joy": 1.0}}
    assert messages.problems(broken) == ["estimate: emotion must have the keys " + ", ".join(good["emotion"])]
    assert messages.problems({"type": "estimate", "version": 1})[0] == "estimate: t is missing"
    assert all(not math.isnan(v) for v in good["emotion"].values())


def test_the_outputs_stop_within_bounds_while_estimates_keep_coming() -> None:
    config = AppConfig(outputs=OutputsConfig(lsl=True, overlay=True, port=free_port()))
    live = LiveOutputs(config, SessionClock())
    assert live.start() == [] and live.describe() == f"LSL, overlay :{config.outputs.port}"
    stop = threading.Event()

    def feed() -> None:
        k = 0
        while not stop.is_set():
            live.on_estimate(estimate(k * 0.01))
            k += 1
            time.sleep(0.001)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    time.sleep(0.3)
    live.stop()
    live.on_estimate(estimate(100.0))  # after stop: ignored
    stop.set()
    feeder.join(5)
    assert not feeder.is_alive() and live.describe() == ""


def test_the_session_menu_switches_the_overlay_on_a_running_session(qtbot, demo_clip) -> None:  # noqa: ANN001
    pytest.importorskip("pytestqt")
    from fakes import Factory, FakeRecorder
    from websockets.sync.client import connect

    from emolive.gui.interfaces import Sources
    from emolive.gui.session import SessionController

    config = AppConfig(outputs=OutputsConfig(port=0))
    controller = SessionController(config, Sources(video=demo_clip), Factory(), FakeRecorder(), persist=False)
    shown: list[str] = []
    controller.outputs_changed.connect(shown.append)
    with qtbot.waitSignal(controller.started, timeout=10_000):
        controller.start()
    try:
        assert controller.outputs is not None and controller.outputs_text() == ""
        controller.set_outputs(overlay=True)
        assert controller.config.outputs.overlay and shown[-1].startswith("overlay :")
        with connect(controller.outputs.websocket.url, open_timeout=5, close_timeout=2) as client:
            assert json.loads(client.recv(timeout=5))["type"] == "hello"
            assert messages.problems(json.loads(client.recv(timeout=5))) == []  # the fake pipeline's estimates
            controller.set_outputs(overlay=False)
            assert shown[-1] == "" and controller.outputs.websocket is None
    finally:
        controller.shutdown()
    assert controller.outputs is None


def test_a_vanished_client_is_let_go_and_the_server_goes_on() -> None:
    from websockets.sync.client import connect

    server = WebSocketServer(map_clocks(SessionClock()), HOP, port=0)
    server.start()
    try:
        gone = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        gone.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        assert b"101" in gone.recv(200)
        assert wait_for(lambda: server.clients == 1)
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        gone.close()  # no closing handshake: a reset
        for k in range(5):
            server.on_estimate(estimate(k * HOP))
        assert wait_for(lambda: server.clients == 0)
        with connect(server.url, open_timeout=5, close_timeout=2) as client:
            assert json.loads(client.recv(timeout=5))["type"] == "hello"
            server.on_estimate(estimate(7.0, dominant="fear"))
            assert json.loads(client.recv(timeout=5))["dominant"] == "fear"
    finally:
        assert server.stop()


def test_the_marker_inlet_finds_its_sender_again_after_it_vanished() -> None:
    import pylsl

    from emolive.outputs.markers import LslMarkerInlet

    name = f"emolive-test-vanishing-{os.getpid()}"
    written: list[tuple[str, float]] = []
    mapping = map_clocks(SessionClock(), pylsl.local_clock)
    inlet = LslMarkerInlet(name, mapping, lambda label, t: written.append((label, t)))
    inlet.start()
    try:
        for round_ in range(2):
            sender = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                                         f"{name}-{round_}"))
            assert wait_for(lambda: inlet.connected, timeout=20)
            sender.push_sample([f"cue {round_}"])
            assert wait_for(lambda r=round_: any(label == f"cue {r}" for label, _ in written), timeout=10)
            del sender  # the sender goes away: the inlet looks for it again
            assert wait_for(lambda: not inlet.connected, timeout=20)
    finally:
        assert inlet.stop(timeout=5)
    assert [label for label, _ in written] == ["cue 0", "cue 1"]


def test_the_command_line_refuses_another_host_without_a_token(capsys) -> None:  # noqa: ANN001
    from emolive.cli import main

    assert main(["run", "--overlay-host", "0.0.0.0", "--no-camera", "--no-mic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "set a token too" in err[0] and "Traceback" not in err[0]
    assert main(["run", "--overlay-port", "70000", "--no-camera", "--no-mic"]) == 2
    assert "port = 70000 is out of range" in capsys.readouterr().err


def test_the_window_s_session_menu_serves_the_overlay_and_the_status_bar_says_so(qtbot, demo_clip, tmp_path) -> None:  # noqa: ANN001
    pytest.importorskip("pytestqt")
    from fakes import Factory
    from websockets.sync.client import connect

    from emolive.config import load_config
    from emolive.gui.interfaces import Sources
    from emolive.gui.main_window import MainWindow

    win = MainWindow(AppConfig(outputs=OutputsConfig(port=0)), Sources(video=demo_clip), Factory(),
                     config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    try:
        assert set(win.actions.outputs) == {"lsl", "lsl_markers", "overlay"}
        assert not win.actions.outputs["overlay"].isChecked()
        win.actions.outputs["overlay"].setChecked(True)  # Session > Serve overlay
        qtbot.waitUntil(lambda: "out: overlay :" in win.status_panel.text(), timeout=5000)
        assert load_config(tmp_path / "config.toml").outputs.overlay  # saved for the next start
        with connect(win.session.outputs.websocket.url, open_timeout=5, close_timeout=2) as client:
            assert json.loads(client.recv(timeout=5))["type"] == "hello"
        win.actions.outputs["overlay"].setChecked(False)
        qtbot.waitUntil(lambda: "out:" not in win.status_panel.text(), timeout=5000)
    finally:
        win.close()


def test_typed_markers_and_committed_segments_go_out_on_the_markers_stream() -> None:
    import pylsl

    from emolive.core.contracts import TranscriptSegment

    live = LiveOutputs(AppConfig(outputs=OutputsConfig(lsl=True)), SessionClock(), source="markers-test")
    assert live.start() == []
    try:
        found = pylsl.resolve_bypred(f"type='Markers' and source_id='{live.lsl.ident}-markers'", 1, 10.0)
        assert len(found) == 1 and found[0].name() == "emolive-markers"
        inlet = pylsl.StreamInlet(found[0])
        inlet.open_stream(5.0)
        time.sleep(0.3)  # the connection is up before anything is pushed
        live.on_segment(TranscriptSegment("so  happy", 1.0, 1.5, committed=False, confidence=0.5))  # not committed
        live.on_segment(TranscriptSegment("so  happy", 1.0, 1.6, committed=True, confidence=0.9))
        time.sleep(0.1)  # the segment passes the dispatch thread first
        live.marker("laugh", 2.25)
        got = [inlet.pull_sample(timeout=5.0) for _ in range(2)]
        inlet.close_stream()
    finally:
        live.stop()
    assert [sample for sample, _ in got] == [["transcript: so happy"], ["laugh"]]
    assert [stamp for _, stamp in got] == [pytest.approx(live.mapping.to_lsl(1.0), abs=1e-6),
                                           pytest.approx(live.mapping.to_lsl(2.25), abs=1e-6)]
