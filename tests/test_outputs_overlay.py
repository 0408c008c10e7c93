"""The OBS overlay page in headless Chromium (Debian's ``chromium``) against a running WebSocket server: the page
shows the dominant emotion (document title, data attribute and the label's pixels) on a transparent background.

Chromium is driven through its DevTools protocol on 127.0.0.1; its host resolver maps every name to nothing and its
background services are off, so it sends nothing to another address (checked with strace: only its IPv6
reachability probe connect()s a UDP socket to a public address, which sends no packet).
"""

from __future__ import annotations

import base64
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


def test_the_overlay_shows_the_dominant_emotion_on_a_transparent_page(tmp_path) -> None:  # noqa: ANN001
    server = WebSocketServer(map_clocks(SessionClock()), 0.1, port=0, overlay=overlay_page())
    server.start()
    stop = threading.Event()

    def feed() -> None:
        k = 0
        while not stop.wait(0.1):
            server.on_estimate(estimate(k * 0.1, dominant="anger"))
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
        tools.call("Page.navigate", url=server.overlay_url + "?parts=label,bars,va&scale=1")
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and tools.evaluate("document.body.dataset.dominant") != "anger":
            time.sleep(0.2)
        assert tools.evaluate("document.body.dataset.dominant") == "anger"
        assert tools.evaluate("document.title") == "emolive: anger"
        assert tools.evaluate("document.getElementById('label').firstChild.textContent") == "anger"
        box = tools.evaluate("JSON.stringify(document.getElementById('label').getBoundingClientRect())")
        time.sleep(0.5)  # the bars' transition ends
        shot = tools.call("Page.captureScreenshot", format="png")["data"]
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
