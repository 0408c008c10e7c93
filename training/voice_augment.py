"""Waveform augmentation for training the voice model: a live-sized window, noise, reverberation, gain, speed,
band-limit/codec.

Every transform but the window crop keeps the sample rate and the number of samples (speed changes are
centre-cropped or padded back to the input length), so an augmented clip can stand in for the clean one anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AugmentSpec:
    """Probabilities and ranges of the waveform transforms (applied in this order)."""

    speed_prob: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)  # resampling: tempo and pitch change together
    reverb_prob: float = 0.4
    rt60_range: tuple[float, float] = (0.15, 0.8)  # seconds, synthetic exponentially decaying impulse response
    noise_prob: float = 0.7
    snr_db_range: tuple[float, float] = (5.0, 20.0)
    band_prob: float = 0.3  # telephone band (300-3400 Hz) or a low-pass at 4-7 kHz, then 8-bit mu-law half the time
    gain_db_range: tuple[float, float] = (-12.0, 6.0)
    window_s: float = 0.0  # > 0: first cut a random window of this length (what the live channel scores)

    @classmethod
    def window_crop(cls, window_s: float) -> AugmentSpec:
        """Only a random ``window_s`` window of the clean clip: no noise, reverb, gain, speed or band change."""
        return cls(speed_prob=0.0, reverb_prob=0.0, noise_prob=0.0, band_prob=0.0, gain_db_range=(0.0, 0.0),
                   window_s=float(window_s))

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Centre-crop or zero-pad ``x`` to ``n`` samples."""
    if len(x) >= n:
        start = (len(x) - n) // 2
        return x[start:start + n]
    pad = n - len(x)
    return np.pad(x, (pad // 2, pad - pad // 2))


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (resampling; pitch moves with it), same length as ``x``."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(1.0 / factor).limit_denominator(50)
    y = resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)
    return _fit_length(y, len(x))


def reverb(x: np.ndarray, rt60: float, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Convolve with a synthetic room response (direct path + exponentially decaying noise of ``rt60`` s)."""
    from scipy.signal import fftconvolve

    n = max(1, int(rt60 * rate))
    t = np.arange(n) / rate
    ir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    ir[: int(0.002 * rate)] = 0.0
    ir[0] = 1.0
    ir /= np.sqrt((ir ** 2).sum())
    y = fftconvolve(x, ir)[: len(x)]
    peak_in, peak_out = np.abs(x).max(), np.abs(y).max()
    return (y * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    noise = np.fft.irfft(spectrum / f ** (exponent / 2.0), n)
    return (noise / (np.sqrt((noise ** 2).mean()) + 1e-12)).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white, pink or brown noise at ``snr_db`` below the signal's loud-part RMS."""
    frames = x[: len(x) // 400 * 400].reshape(-1, 400) if len(x) >= 400 else x[None]
    rms = np.sqrt((frames ** 2).mean(1))
    level = float(np.sqrt((np.sort(rms)[len(rms) // 2:] ** 2).mean()))  # louder half: speech, not pauses
    if level <= 0:
        return x
    noise = coloured_noise(len(x), float(rng.choice([0.0, 1.0, 2.0])), rng)
    return (x + noise * level * 10.0 ** (-snr_db / 20.0)).astype(np.float32)


def band_limit(x: np.ndarray, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Telephone band or a random low-pass, then (half the time) 8-bit mu-law quantisation."""
    from scipy.signal import butter, sosfilt

    if rng.random() < 0.5:
        sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=rate, output="sos")
    else:
        sos = butter(6, float(rng.uniform(4000.0, 7000.0)), btype="lowpass", fs=rate, output="sos")
    y = sosfilt(sos, x).astype(np.float32)
    if rng.random() < 0.5:
        mu = 255.0
        peak = float(np.abs(y).max()) or 1.0
        z = y / peak
        q = np.round((np.sign(z) * np.log1p(mu * np.abs(z)) / np.log1p(mu) + 1.0) * 127.5) / 127.5 - 1.0
        y = (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak).astype(np.float32)
    return y


def augment(x: np.ndarray, rng: np.random.Generator, spec: AugmentSpec | None = None,
            rate: int = SAMPLE_RATE) -> np.ndarray:
    """One random augmented copy of mono float32 ``x`` at ``rate``: same length, same rate, within [-1, 1]."""
    spec = spec or AugmentSpec()
    y = np.asarray(x, dtype=np.float32).reshape(-1).copy()
    if y.size == 0:
        return y
    window = int(round(spec.window_s * rate))
    if window > 0 and y.size > window:
        start = int(rng.integers(0, y.size - window + 1))
        y = y[start:start + window]
    if rng.random() < spec.speed_prob:
        y = speed(y, float(rng.uniform(*spec.speed_range)))
    if rng.random() < spec.reverb_prob:
        y = reverb(y, float(rng.uniform(*spec.rt60_range)), rng, rate)
    if rng.random() < spec.noise_prob:
        y = add_noise(y, float(rng.uniform(*spec.snr_db_range)), rng)
    if rng.random() < spec.band_prob:
        y = band_limit(y, rng, rate)
    y = y * np.float32(10.0 ** (rng.uniform(*spec.gain_db_range) / 20.0))
    return np.clip(y, -1.0, 1.0).astype(np.float32)
