"""List the cameras and microphones emolive can use (and say so plainly when there are none)."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-cameras", type=int, default=6, help="camera indexes to probe (default 6)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def list_cameras(max_index: int) -> list[dict]:
    """Cameras that open and deliver a frame, probed by index (OpenCV has no device enumeration)."""
    import glob
    import os

    import cv2

    from emolive.capture.camera import open_capture

    found = []
    nodes = sorted(glob.glob("/dev/video*"))
    if os.name == "posix" and os.path.isdir("/dev") and not nodes and not os.path.exists("/dev/video0"):
        return found  # Linux without video nodes: nothing to probe (avoids slow V4L2 warnings)
    previous = cv2.utils.logging.getLogLevel() if hasattr(cv2, "utils") else None
    if previous is not None:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        for index in range(max_index):
            try:
                cap = open_capture(index, 640, 480, 30)
            except Exception:
                continue
            width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = float(cap.get(cv2.CAP_PROP_FPS))
            cap.release()
            found.append({"index": index, "width": width, "height": height, "fps": fps})
    finally:
        if previous is not None:
            cv2.utils.logging.setLogLevel(previous)
    return found


def list_microphones() -> tuple[list[dict], str]:
    from emolive.capture.microphone import input_devices
    from emolive.core.errors import DeviceError

    try:
        devices = input_devices()
    except DeviceError as exc:
        return [], str(exc)
    return [{"index": d["index"], "name": d["name"], "channels": d["max_input_channels"],
             "default_samplerate": d.get("default_samplerate")} for d in devices], ""


def run(args: argparse.Namespace) -> int:
    cameras = list_cameras(args.max_cameras)
    microphones, audio_problem = list_microphones()
    if args.json:
        print(json.dumps({"cameras": cameras, "microphones": microphones, "audio_problem": audio_problem}))
        return 0
    print("Cameras:")
    if cameras:
        for cam in cameras:
            print(f"  {cam['index']}: {cam['width']}x{cam['height']} at {cam['fps']:.0f} fps")
    else:
        print("  none found (use `emolive --video FILE` to analyse a recording instead)")
    print("Microphones:")
    if microphones:
        for mic in microphones:
            print(f"  {mic['index']}: {mic['name']} ({mic['channels']} ch, {mic['default_samplerate']:.0f} Hz)")
    else:
        print(f"  none found{': ' + audio_problem if audio_problem else ''}")
    return 0
