"""``emolive bench --outputs``: the live outputs' cost and latency, measured with one real client of each kind.

The pipeline runs once; its phases alternate between outputs off (not subscribed; their threads idle) and on
(LSL outlet and WebSocket fed). A client process (``python -m emolive.outputs.bench --client ...``) reads the LSL
stream and the WebSocket and logs when each step arrives; the latency is that time minus the moment the pipeline
published the step (both on this machine's monotonic clock). Figures go to the terminal, not into a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emolive.config import AppConfig, OutputsConfig
from emolive.core.contracts import EmotionEstimate
from emolive.outputs.hub import LiveOutputs

CLIENT_READY_S = 20.0


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    arr = np.asarray(values)
    return {"n": len(values), "p50": round(float(np.percentile(arr, 50)), 2),
            "p95": round(float(np.percentile(arr, 95)), 2), "max": round(float(arr.max()), 2)}


class _Probe:
    """First sink of the pipeline: when each step was published (monotonic), and each step's own time."""

    def __init__(self) -> None:
        self.published: dict[float, float] = {}
        self.step_ms: list[float] = []
        self._lock = threading.Lock()

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        now = time.monotonic()
        with self._lock:
            self.published[round(estimate.t, 4)] = now
            self.step_ms.append(dict(estimate.latency_ms).get("total", 0.0))

    def on_segment(self, segment: Any) -> None:
        return None

    def on_event(self, event: Any) -> None:
        return None

    def take_steps(self) -> list[float]:
        with self._lock:
            steps, self.step_ms = self.step_ms, []
        return steps


class _Timed:
    """The outputs as a sink, timing what each step costs the publishing worker (the hand-over only); with no
    outputs (``live`` None) it times an empty call: the baseline of the same moment (GIL and CPU contention)."""

    def __init__(self, live: LiveOutputs | None) -> None:
        self.live = live
        self.us: list[float] = []

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        start = time.perf_counter()
        if self.live is not None:
            self.live.on_estimate(estimate)
        self.us.append(1e6 * (time.perf_counter() - start))

    def on_segment(self, segment: Any) -> None:
        if self.live is not None:
            self.live.on_segment(segment)

    def on_event(self, event: Any) -> None:
        return None


def measure(config: AppConfig, pipeline_factory: Any, seconds: float, phases: int = 4) -> dict[str, Any]:
    """Run ``phases`` phases of ``seconds`` each (off, on, off, on, ...) on one pipeline; the figures as a dict.

    ``pipeline_factory(config, sinks)`` builds a LivePipeline (not started).
    """
    config = replace(config, outputs=OutputsConfig(lsl=True, overlay=True, port=0))
    probe = _Probe()
    pipeline = pipeline_factory(config, [probe])
    live = LiveOutputs(config, pipeline.clock, source="bench")
    problems = live.start()
    if problems or live.lsl is None or live.websocket is None:
        live.stop()
        raise RuntimeError("; ".join(problems) or "the outputs did not start")
    log_file = Path(tempfile.mkstemp(prefix="emolive-outputs-bench-", suffix=".log")[1])
    client = subprocess.Popen([sys.executable, "-m", "emolive.outputs.bench", "--client", live.websocket.url,
                               live.lsl.ident, str(log_file)], stdin=subprocess.PIPE)
    result: dict[str, Any] = {"off": {"step_ms": [], "cpu": []}, "on": {"step_ms": [], "cpu": []}}
    try:
        pipeline.start()
        ready = time.monotonic() + CLIENT_READY_S
        while time.monotonic() < ready and "ready" not in log_file.read_text():
            time.sleep(0.1)
        if "ready" not in log_file.read_text():
            raise RuntimeError("the benchmark's client did not connect")
        lsl_offset = live.mapping.lsl_offset if live.mapping is not None else 0.0
        timed, empty = _Timed(live), _Timed(None)
        for phase in range(phases):
            kind = "on" if phase % 2 else "off"
            sink = timed if kind == "on" else empty
            pipeline.sinks.subscribe(sink)
            probe.take_steps()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            time.sleep(seconds)
            cpu1, wall1 = time.process_time(), time.perf_counter()
            result[kind]["step_ms"] += probe.take_steps()
            result[kind]["cpu"].append(100 * (cpu1 - cpu0) / (wall1 - wall0))
            pipeline.sinks.unsubscribe(sink)
        time.sleep(0.5)
    finally:
        pipeline.stop()
        if client.stdin is not None:
            client.stdin.close()  # the client ends when its stdin closes
        try:
            client.wait(10)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait(5)
        live.stop()
    latency: dict[str, list[float]] = {"lsl": [], "websocket": []}
    for line in log_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("lsl", "ws"):
            continue
        kind, stamp, received = parts[0], float(parts[1]), float(parts[2])
        t = round(stamp - lsl_offset, 4) if kind == "lsl" else round(stamp, 4)
        published = probe.published.get(t)
        if published is not None:
            latency["lsl" if kind == "lsl" else "websocket"].append(1000 * (received - published))
    log_file.unlink(missing_ok=True)
    return {
        "seconds_per_phase": seconds, "phases": phases,
        "latency_ms": {k: _percentiles(v) for k, v in latency.items()},
        "step_ms": {k: _percentiles(result[k]["step_ms"]) for k in ("off", "on")},
        "cpu_percent": {k: round(float(np.mean(result[k]["cpu"])), 1) for k in ("off", "on")},
        "hand_over_us": {"on": _percentiles(timed.us), "off (an empty sink)": _percentiles(empty.us)},
        "dropped_by_outputs": {"lsl": live.lsl.dropped, "websocket_clients": live.websocket.dropped_clients},
    }


def run_client(url: str, ident: str, log_path: str) -> int:
    """The client process: one LSL inlet and one WebSocket client, logging ``kind stamp monotonic`` lines."""
    import pylsl
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    stop = threading.Event()
    lines: list[str] = []
    lock = threading.Lock()

    def note(kind: str, stamp: float) -> None:
        received = time.monotonic()
        with lock:
            lines.append(f"{kind} {stamp:.6f} {received:.6f}")

    found = pylsl.resolve_bypred(f"source_id='{ident}'", 1, 10.0)
    if not found:
        return 1
    inlet = pylsl.StreamInlet(found[0], max_buflen=10)
    inlet.open_stream(5.0)

    def pull() -> None:
        while not stop.is_set():
            sample, stamp = inlet.pull_sample(timeout=0.2)
            if sample is not None:
                note("lsl", stamp)

    with connect(url, open_timeout=10, close_timeout=2) as socket:
        socket.recv(timeout=10)  # hello
        puller = threading.Thread(target=pull, daemon=True)
        puller.start()
        Path(log_path).write_text("ready\n")

        def read_ws() -> None:
            while not stop.is_set():
                try:
                    message = json.loads(socket.recv(timeout=0.2))
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                if message.get("type") == "estimate":
                    note("ws", message["t"])

        reader = threading.Thread(target=read_ws, daemon=True)
        reader.start()
        sys.stdin.read()  # until the benchmark closes our stdin
        stop.set()
        puller.join(2)
        reader.join(2)
    inlet.close_stream()
    with lock:
        Path(log_path).write_text("ready\n" + "\n".join(lines) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the live outputs benchmark's client process")
    parser.add_argument("--client", nargs=3, metavar=("URL", "SOURCE_ID", "LOG"), required=True)
    args = parser.parse_args(argv)
    return run_client(*args.client)


if __name__ == "__main__":
    sys.exit(main())
