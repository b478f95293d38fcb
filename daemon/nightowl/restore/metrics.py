"""How close a restored file is to its lossless original: the restore benchmark's and training's yardsticks.

All signals are float arrays in full-scale units (1.0 = digital full scale), shaped
(frames,) or (frames, channels), at one sample rate. Every metric compares an
*estimate* (the restored audio) with a *reference* (the lossless original) of the
same shape; call `align` first, because a decoded lossy file is usually shifted by
the codec's priming delay and a shift of even one sample wrecks SI-SDR.

torch and auraloss are imported inside `mr_stft` only, so the daemon can import
this module without loading torch.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

N_FFT = 2048  # 21.5 Hz bins, 46 ms frames at 44.1 kHz
HOP = 512
EPS = 1e-10  # LSD power floor: 10*log10(1e-10) = -100 dB in |X|^2 units
SILENT_RMS = 1e-8  # -160 dBFS: below one 24-bit LSB, i.e. digital silence
_FRAMES_PER_BLOCK = 1024  # bounds STFT memory to ~16 MB per block on long files


def _channels(x: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) -> float64 (channels, frames)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        return a[None, :]
    if a.ndim == 2:
        if a.shape[1] > a.shape[0]:  # more channels than frames: surely (channels, frames) by mistake
            raise ValueError(f"expected (frames, channels), got shape {a.shape}")
        return a.T
    raise ValueError(f"expected (frames,) or (frames, channels), got shape {a.shape}")


def _pair(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as (channels, frames); shapes must match, since a metric on misaligned audio means nothing."""
    est, ref = _channels(estimate), _channels(reference)
    if est.shape != ref.shape:
        raise ValueError(
            f"estimate {np.shape(estimate)} and reference {np.shape(reference)} differ in shape; "
            "call align() first"
        )
    if est.shape[1] == 0:
        raise ValueError("empty signal")
    return est, ref


def _mono(x: np.ndarray) -> np.ndarray:
    return _channels(x).mean(axis=0)


def align(
    estimate: np.ndarray,
    reference: np.ndarray,
    sr: int,
    max_delay_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Undo the delay between estimate and reference; returns (est_aligned, ref_aligned, lag).

    Lossy decoders often hand back audio shifted by the encoder's priming: MP3 about
    1105 samples (576 encoder + 529 decoder delay) when the decoder ignores the LAME
    tag, AAC 1024 or 2112, Opus 312 at 48 kHz. Left in, such a shift wrecks SI-SDR
    (on the tests' drum loop an AAC 128k round trip scores +18 dB aligned and -28 dB
    with its 1024 priming samples; a copy at 49 dB falls to 7 dB when one sample
    late), so compare only aligned signals.

    The lag is found by GCC-PHAT on the mono downmixes: the cross-spectrum
    E * conj(R) is whitened to unit magnitude (bins below 1e-12 of its peak get zero
    weight, so digitally silent bands add nothing), inverse-transformed with enough
    zero padding that no lag wraps around, and its peak taken within
    +-round(max_delay_s * sr) samples. Integer lags only.

    Sign convention: lag > 0 means the estimate is late, estimate[n + lag] ~
    reference[n]; lag < 0 means it is early. Both arrays are then cut to the span
    they share (estimate[lag:] against reference[:], or estimate[:] against
    reference[-lag:], trimmed to the shorter one); they are returned as views with
    their original channel layout.

    Strictly periodic material (a lone steady tone) is ambiguous by whole periods;
    music and speech with transients are not. If either side is digitally silent
    the lag is 0.
    """
    e, r = _mono(estimate), _mono(reference)
    if len(e) == 0 or len(r) == 0:
        raise ValueError("empty signal")
    max_lag = min(round(max_delay_s * sr), len(e) - 1, len(r) - 1)
    n = scipy.fft.next_fast_len(len(e) + len(r))  # no circular wrap for any lag
    cross = scipy.fft.rfft(e, n)
    cross *= np.conj(scipy.fft.rfft(r, n))
    mag = np.abs(cross)
    peak = mag.max()
    if peak > 0:
        weight = np.zeros_like(mag)
        np.divide(1.0, mag, out=weight, where=mag > 1e-12 * peak)
        cross *= weight
        cc = scipy.fft.irfft(cross, n)
        lags = np.arange(-max_lag, max_lag + 1)
        lag = int(lags[np.argmax(cc[lags % n])])  # negative lags sit at the end of the circular result
    else:
        lag = 0  # one side is digitally silent: nothing to align on

    est = np.asarray(estimate)
    ref = np.asarray(reference)
    if lag >= 0:
        est = est[lag:]
    else:
        ref = ref[-lag:]
    common = min(len(est), len(ref))
    return est[:common], ref[:common], lag


def _band_bins(sr: int, n_fft: int, band: tuple[float, float] | None) -> np.ndarray:
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    if band is None:
        return np.ones(len(freqs), dtype=bool)
    lo, hi = band
    mask = (freqs >= lo) & (freqs <= hi)
    if not mask.any():
        raise ValueError(f"band {band} Hz holds no STFT bin at sr={sr}, n_fft={n_fft}")
    return mask


def _frame_lsd(
    est: np.ndarray, ref: np.ndarray, window: np.ndarray, hop: int, bins: np.ndarray
) -> np.ndarray:
    """Per-frame LSD of one channel; NaN where the reference frame is digitally silent."""
    n_fft = len(window)
    frames = 1 + -(-max(len(ref) - n_fft, 0) // hop)  # ceil: the last partial hop gets a frame too
    padded = (frames - 1) * hop + n_fft
    views = [
        np.lib.stride_tricks.sliding_window_view(np.pad(x, (0, padded - len(x))), n_fft)[::hop]
        for x in (est, ref)
    ]
    out = np.empty(frames)
    for start in range(0, frames, _FRAMES_PER_BLOCK):
        block = slice(start, start + _FRAMES_PER_BLOCK)
        spec_e, spec_r = (scipy.fft.rfft(v[block] * window, axis=1) for v in views)
        p_est = spec_e.real**2 + spec_e.imag**2
        p_ref = spec_r.real**2 + spec_r.imag**2
        diff = 10.0 * np.log10(p_ref[:, bins] + EPS) - 10.0 * np.log10(p_est[:, bins] + EPS)
        values = np.sqrt(np.mean(diff**2, axis=1))
        values[np.all(p_ref < EPS, axis=1)] = np.nan  # judged on all bins, not just the band
        out[block] = values
    return out


def lsd(
    estimate: np.ndarray,
    reference: np.ndarray,
    sr: int,
    *,
    n_fft: int = N_FFT,
    hop: int = HOP,
    band: tuple[float, float] | None = None,
) -> float:
    """Log-spectral distance in dB; 0 for identical signals, no upper bound.

    Each channel gets an STFT with a periodic Hann window of n_fft samples (2048)
    and a hop of `hop` (512): no centre padding, frames start at sample 0 and the
    end is zero-padded so the last partial hop gets a frame. Power is
    P = |rfft(window * frame)|^2 of the full-scale float samples, without window
    normalisation (a full-scale sine peaks near +54 dB in these units). Per frame:

        LSD = sqrt(mean over bins in band of (10*log10(P_ref + eps) - 10*log10(P_est + eps))^2)

    with `band` = (lo_hz, hi_hz) selecting bins whose centre lo <= f <= hi (None:
    every bin, DC to Nyquist). The result is the mean over all frames of all
    channels that are kept.

    Level handling: eps = 1e-10 (-100 dB power floor) is added to both powers, so
    bands below the floor count as equal. No gain normalisation: a band restored
    at the wrong level must cost (a copy 6 dB down scores ~6 dB). Frames where the
    reference is digitally silent (every bin of P_ref below eps, whatever the
    band) are skipped, since a log ratio against nothing measures only the floor.
    Raises ValueError if every frame is skipped.
    """
    est, ref = _pair(estimate, reference)
    bins = _band_bins(sr, n_fft, band)
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as the restore STFT uses
    per_frame = np.concatenate([_frame_lsd(e, r, window, hop, bins) for e, r in zip(est, ref)])
    kept = per_frame[~np.isnan(per_frame)]
    if len(kept) == 0:
        raise ValueError("reference is digitally silent in every frame; LSD is undefined")
    return float(kept.mean())


def hf_lsd(estimate: np.ndarray, reference: np.ndarray, sr: int, cutoff_hz: float) -> float:
    """LSD above the codec's cutoff only: `lsd` with band=(cutoff_hz, sr/2), the band restore rebuilds."""
    return lsd(estimate, reference, sr, band=(cutoff_hz, sr / 2))


def mr_stft(estimate: np.ndarray, reference: np.ndarray, sr: int) -> float:
    """auraloss 0.4.0 MultiResolutionSTFTLoss with its defaults; 0 for identical signals.

    Defaults: fft_sizes [1024, 2048, 512], hop_sizes [120, 240, 50], win_lengths
    [600, 1200, 240], Hann, spectral convergence + log-magnitude L1, averaged over
    the three resolutions. Channels go in as the batch, tensors shaped
    (channels, 1, frames) float32 on the CPU, estimate as input and reference as
    target. `sr` is unused by these defaults and kept for a uniform signature.
    Needs more than 1024 frames (torch.stft reflect-pads half the largest FFT).
    """
    import auraloss  # here, not at module level: the daemon must not load torch
    import torch

    del sr
    est, ref = _pair(estimate, reference)
    if est.shape[1] <= 1024:
        raise ValueError(f"mr_stft needs more than 1024 frames, got {est.shape[1]}")
    loss = auraloss.freq.MultiResolutionSTFTLoss()
    with torch.no_grad():
        value = loss(
            torch.from_numpy(est.astype(np.float32)[:, None, :]),
            torch.from_numpy(ref.astype(np.float32)[:, None, :]),
        )
    return float(value)


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019, "SDR - half-baked or well done?").

    Per channel, after removing each signal's mean: target = a * ref with
    a = <est, ref> / <ref, ref>, noise = est - target, and
    SI-SDR = 10*log10((|target|^2 + e) / (|noise|^2 + e)) with e the float64
    machine epsilon, so identical signals give a large finite value rather than
    inf. Averaged over channels in dB. Channels whose reference is digitally silent
    (RMS below 1e-8, -160 dBFS) are skipped, as the ratio has no meaning there;
    ValueError if all are. Any gain on the estimate leaves the value unchanged;
    a delay does not, so align first.
    """
    est, ref = _pair(estimate, reference)
    est = est - est.mean(axis=1, keepdims=True)
    ref = ref - ref.mean(axis=1, keepdims=True)
    ref_energy = np.sum(ref**2, axis=1)
    audible = ref_energy > SILENT_RMS**2 * ref.shape[1]
    if not audible.any():
        raise ValueError("reference is digitally silent; SI-SDR is undefined")
    est, ref, ref_energy = est[audible], ref[audible], ref_energy[audible]
    scale = np.sum(est * ref, axis=1) / ref_energy
    target = scale[:, None] * ref
    noise = est - target
    tiny = np.finfo(np.float64).eps
    ratio = (np.sum(target**2, axis=1) + tiny) / (np.sum(noise**2, axis=1) + tiny)
    return float(np.mean(10.0 * np.log10(ratio)))


def bootstrap_ci(
    deltas: np.ndarray, n: int = 10000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Paired bootstrap of the mean per-clip difference: (mean, lo, hi).

    `deltas` holds one difference per clip (metric of system A minus system B on
    the same clip), so resampling clips keeps every pair together. Draws `n`
    resamples of the clips with replacement and returns the sample mean with the
    percentile interval at `level` (0.95: the 2.5th and 97.5th percentiles of the
    resampled means, numpy's linear interpolation). The same deltas, n and seed
    always give the same interval.
    """
    d = np.asarray(deltas, dtype=np.float64)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"deltas must be a non-empty 1-D array, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("deltas must be finite")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    rows = max(1, (1 << 22) // len(d))  # ~32 MB of indices at a time, however many clips
    means = np.concatenate([
        d[rng.integers(0, len(d), size=(min(rows, n - start), len(d)))].mean(axis=1)
        for start in range(0, n, rows)
    ])
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(d.mean()), float(lo), float(hi)


def compare(estimate: np.ndarray, reference: np.ndarray, sr: int, cutoff_hz: float) -> dict[str, float]:
    """Align, then every metric: {"lsd", "hf_lsd", "mr_stft", "si_sdr", "lag"}.

    "lag" is `align`'s lag in samples (an int; positive: the estimate was late).
    The metrics see only the span both signals share after alignment.
    """
    est, ref, lag = align(estimate, reference, sr)
    return {
        "lsd": lsd(est, ref, sr),
        "hf_lsd": hf_lsd(est, ref, sr, cutoff_hz),
        "mr_stft": mr_stft(est, ref, sr),
        "si_sdr": si_sdr(est, ref),
        "lag": lag,
    }
