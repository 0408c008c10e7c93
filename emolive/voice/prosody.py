"""Utterance-level prosodic and spectral statistics: pitch, loudness, rhythm and a coarse spectral envelope.

These travel better across languages and recording set-ups than a speech encoder's content-heavy output, and
complement the Whisper embedding in the voice head. Pitch is the normalised autocorrelation peak (60-400 Hz) of
40 ms frames; loudness and the envelope come from 20 coarse log-mel bands. Everything is relative (log ratios,
spreads, rates), so microphone gain hardly moves the pitch and rhythm statistics.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 640  # 40 ms
HOP = 320  # 20 ms
F0_MIN, F0_MAX = 60.0, 400.0
N_BANDS = 20
N_FFT = 1024  # >= FRAME + the longest pitch lag, so the autocorrelation does not wrap
DIM = 12 + 2 * N_BANDS
VERSION = 1  # bump when the features change (cached copies are keyed by it)


def _frames(x: np.ndarray) -> np.ndarray:
    if len(x) < FRAME:
        x = np.pad(x, (0, FRAME - len(x)))
    n = 1 + (len(x) - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx]


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    return np.hanning(FRAME).astype(np.float32)


@lru_cache(maxsize=2)
def _band_matrix(n_fft: int) -> np.ndarray:
    """Triangular mel filters, ``[N_BANDS, n_fft // 2 + 1]``, 80-7600 Hz."""
    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10.0 ** (np.linspace(mel(80.0), mel(7600.0), N_BANDS + 2) / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    bank = np.zeros((N_BANDS, len(freqs)), dtype=np.float32)
    for b in range(N_BANDS):
        lo, mid, hi = edges[b:b + 3]
        bank[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return bank


def _stats(v: np.ndarray) -> list[float]:
    if v.size == 0:
        return [0.0] * 4
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return [float(p50), float(v.std()), float(p90 - p10), float(np.abs(np.diff(v)).mean()) if v.size > 1 else 0.0]


def prosody_features(samples: np.ndarray) -> np.ndarray:
    """``[DIM]`` statistics of 16 kHz mono float32 audio (zeros where there is no voiced frame)."""
    from scipy import fft as scipy_fft  # here, not at import: 0.3 s off the app's start (the voice loads later)

    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    frames = _frames(x)
    frames = frames - frames.mean(1, keepdims=True)
    windowed = (frames * _hann()).astype(np.float32)
    spec = scipy_fft.rfft(windowed, N_FFT, axis=1)  # float32 in, complex64 out: half the cost of numpy's
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    # pitch: autocorrelation (inverse FFT of the power spectrum), normalised by lag 0
    ac = scipy_fft.irfft(power, N_FFT, axis=1)[:, :FRAME]
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
    peak_lag = lo + ac[:, lo:hi].argmax(1)
    strength = ac[np.arange(len(ac)), peak_lag] / (ac[:, 0] + 1e-12)
    energy_db = 10.0 * np.log10((frames ** 2).mean(1) + 1e-10)
    loud = energy_db > energy_db.max() - 35.0
    voiced = (strength > 0.45) & loud
    log_f0 = np.log2(SAMPLE_RATE / peak_lag[voiced]) if voiced.any() else np.zeros(0)
    f0 = _stats(log_f0)
    # loudness relative to the clip's loud frames, over the frames above the floor
    rel = energy_db[loud] - np.percentile(energy_db[loud], 90) if loud.any() else np.zeros(0)
    level = _stats(rel)[1:]  # the median is ~fixed by construction; keep spread, range, change
    # rhythm: loud-frame peaks per second (a syllable-rate proxy) and voiced share
    e = energy_db
    peaks = (e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & loud[1:-1] & (e[1:-1] > np.median(e[loud]) if loud.any()
                                                                      else False)
    duration = max(len(x) / SAMPLE_RATE, 1e-3)
    rhythm = [float(peaks.sum()) / duration, float(voiced.mean()), float(voiced.sum()) / max(int(loud.sum()), 1)]
    # envelope: coarse log-mel bands of the loud frames, relative to their mean level
    bands = np.log10(power[loud if loud.any() else slice(None)] @ _band_matrix(N_FFT).T + 1e-10)
    bands = bands - bands.mean(1, keepdims=True)
    envelope = list(bands.mean(0)) + list(bands.std(0))
    tilt = [float(np.polyfit(np.arange(N_BANDS), bands.mean(0), 1)[0])]
    out = np.array(f0 + level + rhythm + tilt + envelope + [float(strength[voiced].mean()) if voiced.any()
                                                            else 0.0], dtype=np.float32)
    return np.nan_to_num(out)
