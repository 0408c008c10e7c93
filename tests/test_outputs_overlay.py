"""The OBS overlay page in headless Chromium (Debian's ``chromium``) against a running WebSocket server: the page
shows the dominant emotion (document title, data attribute and the label's pixels) on a transparent background.

Chromium is driven through its DevTools protocol on 127.0.0.1; its host resolver maps every name to nothing and its
background services are off, so it sends nothing to another address (checked with strace: only its IPv6
reachability probe connect()s a UDP socket to a public address, which sends no packet).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from fakes import estimate

from emolive.core.clock import SessionClock
from emolive.core.contracts import EmotionEstimate, FaceBox, ModalityOutput, PersonEstimate
from emolive.core.labels import EMOTIONS
from emolive.outputs.clock import map_clocks
from emolive.outputs.hub import overlay_page
from emolive.outputs.websocket import WebSocketServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANGER_BGR = (0x3A, 0x40, 0xE0)  # #e0403a, the page's colour for anger
JOY_BGR = (0x30, 0xC4, 0xF4)  # #f4c430

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (packaging/setup.sh installs it)")


class DevTools:
    """A minimal DevTools-protocol client for one page (commands answered in order)."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=64 * 2**20, open_timeout=10, close_timeout=2).__enter__()
        self.next_id = 0

    def call(self, method: str, timeout: float = 10.0, **params) -> dict:  # noqa: ANN003
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]

    def evaluate(self, expression: str):  # noqa: ANN201
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self.socket.close()


def start_chromium(profile: Path) -> tuple[subprocess.Popen, int]:
    args = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-pings",
            "--disable-features=MediaRouter,OptimizationHints,Translate",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=520,520", "about:blank"]
    browser = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and browser.poll() is None:
        if active.is_file() and active.read_text().strip():
            return browser, int(active.read_text().split()[0])
        time.sleep(0.1)
    browser.kill()
    browser.wait(10)
    pytest.fail("headless chromium did not open its DevTools port in 30 s")


@contextlib.contextmanager
def page_in_chromium(tmp_path: Path, make_estimate, query: str):  # noqa: ANN001
    """The overlay page at ``query`` in headless Chromium, fed ``make_estimate(t)`` every 0.1 s; yields DevTools."""
    server = WebSocketServer(map_clocks(SessionClock()), 0.1, port=0, overlay=overlay_page())
    server.start()
    stop = threading.Event()

    def feed() -> None:
        k = 0
        while not stop.wait(0.1):
            server.on_estimate(make_estimate(k * 0.1))
            k += 1

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    browser, port = start_chromium(tmp_path / "profile")
    tools = None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            pages = [t for t in json.load(reply) if t.get("type") == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        tools.call("Emulation.setDefaultBackgroundColorOverride", color={"r": 0, "g": 0, "b": 0, "a": 0})
        tools.call("Emulation.setDeviceMetricsOverride", width=520, height=560, deviceScaleFactor=1, mobile=False)
        tools.call("Page.navigate", url=server.overlay_url + query)
        yield tools
    finally:
        if tools is not None:
            tools.close()
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(10)
        stop.set()
        feeder.join(5)
        assert server.stop()


def wait_for_value(tools: DevTools, expression: str, wanted: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and tools.evaluate(expression) != wanted:
        time.sleep(0.2)
    assert tools.evaluate(expression) == wanted


def test_the_overlay_shows_the_dominant_emotion_on_a_transparent_page(tmp_path) -> None:  # noqa: ANN001
    with page_in_chromium(tmp_path, lambda t: estimate(t, dominant="anger"), "?parts=label,bars,va&scale=1") as tools:
        wait_for_value(tools, "document.body.dataset.dominant", "anger")
        assert tools.evaluate("document.title") == "emolive: anger"
        assert tools.evaluate("document.getElementById('label').firstChild.textContent") == "anger"
        assert tools.evaluate("document.getElementById('people').classList.contains('hidden')")  # not asked for
        box = tools.evaluate("JSON.stringify(document.getElementById('label').getBoundingClientRect())")
        time.sleep(0.5)  # the bars' transition ends
        shot = tools.call("Page.captureScreenshot", format="png")["data"]
    png = base64.b64decode(shot)
    (tmp_path / "overlay.png").write_bytes(png)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.ndim == 3 and image.shape[2] == 4  # with an alpha channel
    assert image[-1, -1, 3] == 0 and image[0, -1, 3] == 0  # a transparent background
    rect = json.loads(box)
    x0, y0 = int(rect["x"]), int(rect["y"])
    label = image[y0:y0 + int(rect["height"]), x0:x0 + int(rect["width"])]

    def near(colour: tuple[int, int, int]) -> int:
        opaque = label[..., 3] > 200
        close = np.abs(label[..., :3].astype(int) - np.array(colour)).max(axis=-1) < 40
        return int((opaque & close).sum())

    assert near(ANGER_BGR) > 150  # the label is drawn, in anger's colour
    assert near(JOY_BGR) == 0


def two_people(t: float) -> EmotionEstimate:
    """Ada (primary, angry face) and an unnamed person 2 (joyful face) in view."""
    base = estimate(t, dominant="anger")
    joy = np.full(len(EMOTIONS), 0.05)
    joy[EMOTIONS.index("joy")] = 0.7
    other = ModalityOutput("face", t, present=True, emotion=tuple(float(p) for p in joy / joy.sum()), quality=0.9)
    ada, second = FaceBox(10, 10, 80, 80, track_id=1, person_id=1, person="Ada"), FaceBox(200, 10, 80, 80, track_id=2,
                                                                                        person_id=2, person="")
    people = (PersonEstimate(1, "Ada", ada, base.modalities[0], primary=True), PersonEstimate(2, "", second, other))
    return dataclasses.replace(base, faces=(ada, second), people=people)


def test_the_overlay_names_the_primary_person_and_lists_everyone_in_view(tmp_path) -> None:  # noqa: ANN001
    with page_in_chromium(tmp_path, two_people, "?parts=label,people") as tools:
        wait_for_value(tools, "document.body.dataset.people", "2")
        assert tools.evaluate("document.body.dataset.person") == "Ada"
        assert tools.evaluate("document.getElementById('status').textContent").startswith("Ada \u00b7 confidence")
        lines = tools.evaluate("Array.from(document.querySelectorAll('#people span')).map(e => e.textContent)")
        assert lines == ["Ada: anger", "person 2: joy"]
        assert tools.evaluate("document.querySelector('#people span').className") == "text primary"
