"""A webcam through OpenCV, stamped with the session clock; reconnects when the camera vanishes."""

from __future__ import annotations

import logging
import time

from emolive.capture.base import CaptureSource, EventSink
from emolive.core.clock import SessionClock
from emolive.core.contracts import EventKind, SourceKind, VideoFrame, frozen_array
from emolive.core.errors import DeviceError
from emolive.core.rings import FrameRing

log = logging.getLogger(__name__)

FAILED_READS_BEFORE_RECONNECT = 15
RECONNECT_EVERY_S = 2.0


def parse_camera(device: str | int) -> int | str:
    """A device index ("0" -> 0) or a device path/name kept as text ("/dev/video2")."""
    if isinstance(device, int):
        return device
    text = str(device).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def open_capture(device: int | str, width: int, height: int, fps: float):
    """Open and configure a cv2.VideoCapture; DeviceError when it cannot deliver a frame."""
    import cv2

    cap = cv2.VideoCapture(device)
    if not cap.isOpened():
        cap.release()
        raise DeviceError(f"camera {device!r} not found or busy (see `emolive devices`)")
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    cap.set(cv2.CAP_PROP_FPS, fps)
    ok, _ = cap.read()
    if not ok:
        cap.release()
        raise DeviceError(f"camera {device!r} opened but delivers no frames")
    return cap


class CameraSource(CaptureSource):
    """Reads frames as fast as the camera gives them (requested 640x480 at 30 fps)."""

    name = SourceKind.CAMERA

    def __init__(self, device: str | int, clock: SessionClock, frames: FrameRing, width: int = 640,
                 height: int = 480, fps: float = 30.0, on_event: EventSink | None = None) -> None:
        super().__init__(clock, on_event)
        self.device = parse_camera(device)
        self.frames = frames
        self.width, self.height, self.fps = width, height, fps
        self.measured_fps = 0.0
        self._cap = open_capture(self.device, width, height, fps)  # fail early, in the caller's thread

    @property
    def gives_pictures(self) -> bool:
        return True

    def _run(self) -> None:
        cap, index, failures = self._cap, 0, 0
        window_start, window_count = time.monotonic(), 0
        try:
            while not self.stopping.is_set():
                if cap is None:
                    if self.stopping.wait(RECONNECT_EVERY_S):
                        return
                    try:
                        cap = open_capture(self.device, self.width, self.height, self.fps)
                        self.emit(EventKind.INFO, f"camera {self.device!r} reconnected")
                        failures = 0
                    except DeviceError:
                        continue
                ok, image = cap.read()
                t = self.clock.now()
                if not ok or image is None:
                    failures += 1
                    if failures >= FAILED_READS_BEFORE_RECONNECT:
                        self.emit(EventKind.ERROR, f"camera {self.device!r} stopped delivering frames; retrying")
                        cap.release()
                        cap = None
                    continue
                failures = 0
                self.frames.write(VideoFrame(t=t, index=index, image=frozen_array(image)))  # shared by 3 threads
                index += 1
                window_count += 1
                elapsed = time.monotonic() - window_start
                if elapsed >= 2.0:
                    self.measured_fps = window_count / elapsed
                    window_start, window_count = time.monotonic(), 0
        finally:
            if cap is not None:
                cap.release()
