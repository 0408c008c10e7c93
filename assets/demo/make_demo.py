"""Build assets/demo/demo.mp4: a real face (public-domain photo) slowly panned and zoomed, with synthetic speech.

Needs scikit-image (the `dev` extra), the Debian packages espeak-ng and ffmpeg. Run from the repository root:
    python assets/demo/make_demo.py
See PROVENANCE.md for where every part comes from.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

FPS = 30
SIZE = (640, 480)
SENTENCES = [  # (text, pause after in seconds)
    ("Hello! I am so happy to see you today. This is wonderful news.", 0.6),
    ("But I am really sad that you have to leave so soon.", 0.6),
    ("What? They cancelled it again? That is outrageous, I am furious!", 0.5),
]


def speech(directory: Path) -> np.ndarray:
    """Synthesise each sentence with espeak-ng at 16 kHz and join them with pauses."""
    parts = [np.zeros(int(0.4 * 16000), np.int16)]
    for i, (text, pause) in enumerate(SENTENCES):
        path = directory / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(path), text], check=True)
        subprocess.run(["sox", str(path), "-r", "16000", str(directory / f"r{i}.wav")], check=True)
        with wave.open(str(directory / f"r{i}.wav")) as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), np.int16))
        parts.append(np.zeros(int(pause * 16000), np.int16))
    return np.concatenate(parts)


def frames(n: int) -> np.ndarray:
    """The astronaut photo, gently zoomed (1.0 -> 1.15) and panned, letterboxed into 640x480."""
    import cv2
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)  # 512x512, Eileen Collins, NASA
    out = np.zeros((n, SIZE[1], SIZE[0], 3), np.uint8)
    for i in range(n):
        phase = i / max(n - 1, 1)
        zoom = 1.0 + 0.15 * np.sin(np.pi * phase)
        dx = 40 * np.sin(2 * np.pi * phase)
        dy = 15 * np.sin(4 * np.pi * phase)
        side = SIZE[1] * zoom
        matrix = np.array([[side / 512, 0, (SIZE[0] - side) / 2 + dx], [0, side / 512, (SIZE[1] - side) / 2 + dy]])
        out[i] = cv2.warpAffine(photo, matrix, SIZE, flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40))
    return out


def main() -> int:
    target = Path(__file__).resolve().parent / "demo.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        audio = speech(tmp_dir)
        wav = tmp_dir / "speech.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(audio.tobytes())
        video = frames(int(len(audio) / 16000 * FPS))
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{SIZE[0]}x{SIZE[1]}",
               "-r", str(FPS), "-i", "-", "-i", str(wav), "-c:v", "libx264", "-preset", "slow", "-crf", "30",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k", "-ac", "1", "-shortest", "-movflags", "+faststart",
               str(target)]
        subprocess.run(cmd, input=video.tobytes(), check=True)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB, {len(audio) / 16000:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
