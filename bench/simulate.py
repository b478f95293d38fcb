"""Signal simulations for the benchmark corpus: rooms, crowds, applause, handheld recorders, TTS, dialogues.

Small functions on float32 arrays shaped (frames, channels). Everything that draws random
numbers takes a `numpy.random.Generator` (or a seed), so the corpus stays deterministic.
Used by bench/corpus.py; nothing here downloads anything.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, fftconvolve, sosfilt


# --------------------------------------------------------------------------- basics
def db(x: float) -> float:
    """Decibels to a linear amplitude factor."""
    return float(10 ** (x / 20))


def as2d(x: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, ch) -> float32 (frames, ch)."""
    x = np.asarray(x, dtype=np.float32)
    return x[:, None] if x.ndim == 1 else x


def to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """Downmix to mono or duplicate mono to stereo."""
    x = as2d(x)
    if x.shape[1] == channels:
        return x
    if channels == 1:
        return x.mean(axis=1, keepdims=True)
    return np.repeat(x[:, :1], channels, axis=1)


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """soxr VHQ resampling; a no-op at the same rate."""
    x = as2d(x)
    if sr == target:
        return x
    return soxr.resample(x, sr, target, quality="VHQ").astype(np.float32)


def rms(x: np.ndarray) -> float:
    """Root mean square over all samples (0 for empty input)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0


def active_rms(x: np.ndarray, sr: int, win: float = 0.05, gate_db: float = -40.0) -> float:
    """RMS over the windows no quieter than `gate_db` under the loudest one (ignores pauses)."""
    mono = as2d(x).mean(axis=1)
    n = max(1, int(win * sr))
    frames = mono[: len(mono) // n * n].reshape(-1, n)
    if not len(frames):
        return rms(mono)
    e = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    keep = e >= e.max() * db(gate_db)
    return float(np.sqrt((e[keep] ** 2).mean()))


def peak_normalise(x: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """Scale so the absolute peak sits at `peak_db` dBFS."""
    p = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (db(peak_db) / p)).astype(np.float32) if p > 0 else x.astype(np.float32)


def fade(x: np.ndarray, sr: int, fade_in: float = 0.0, fade_out: float = 0.0) -> np.ndarray:
    """Raised-cosine fades at the start and the end."""
    x = as2d(x).copy()
    for length, head in ((fade_in, True), (fade_out, False)):
        n = min(len(x), int(length * sr))
        if n > 1:
            ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)[:, None]
            if head:
                x[:n] *= ramp
            else:
                x[-n:] *= ramp[::-1]
    return x


def fit(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to exactly n frames."""
    x = as2d(x)
    return x[:n] if len(x) >= n else np.pad(x, ((0, n - len(x)), (0, 0)))


def concat_xfade(parts: list[np.ndarray], sr: int, xfade: float = 0.05) -> np.ndarray:
    """Join clips with short equal-power crossfades (clips share the channel count)."""
    n = int(xfade * sr)
    pieces: list[np.ndarray] = []
    tail = as2d(parts[0])
    for p in parts[1:]:
        p = as2d(p)
        k = min(n, len(tail), len(p))
        if k < 2:
            pieces.append(tail)
            tail = p
            continue
        t = np.linspace(0, np.pi / 2, k, dtype=np.float32)[:, None]
        pieces += [tail[:-k], tail[-k:] * np.cos(t) + p[:k] * np.sin(t)]
        tail = p[k:]
    pieces.append(tail)
    return np.concatenate(pieces).astype(np.float32)


def loop_to(x: np.ndarray, n: int, sr: int, rng: np.random.Generator, xfade: float = 0.2) -> np.ndarray:
    """Tile a short recording to n frames, each repetition from a random offset, crossfaded."""
    x = as2d(x)
    parts, have = [], 0
    while have < n + int(xfade * sr):
        start = int(rng.integers(0, max(1, len(x) // 2)))
        seg = x[start:]
        parts.append(seg)
        have += len(seg) - int(xfade * sr)
    return fit(concat_xfade(parts, sr, xfade), n)


def loop_sources(sources: list[np.ndarray], seconds: float, sr: int, crossfade: float,
                 offset: int = 0) -> np.ndarray:
    """Loop stereo sources in order (starting at `offset`) with linear crossfades of
    `crossfade` seconds, cut to `seconds` and clipped to full scale."""
    n = int(seconds * sr)
    fade = int(crossfade * sr)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
    out = np.zeros((0, 2), dtype=np.float32)
    i = offset
    while len(out) < n:
        nxt = sources[i % len(sources)]
        i += 1
        if len(out) >= fade and len(nxt) > 2 * fade:
            mixed = out[-fade:] * (1 - ramp) + nxt[:fade] * ramp
            out = np.concatenate([out[:-fade], mixed, nxt[fade:]])
        else:
            out = np.concatenate([out, nxt])
    return np.clip(out[:n], -1.0, 1.0)


def convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve a mono or multichannel signal with an IR of shape (taps, out_channels).

    A mono input feeds every IR channel; a multichannel input goes channel to channel."""
    x, ir = as2d(x), as2d(ir)
    out = np.stack([fftconvolve(x[:, min(c, x.shape[1] - 1)], ir[:, c]) for c in range(ir.shape[1])], axis=1)
    return out[: len(x)].astype(np.float32)


# --------------------------------------------------------------------------- rooms
def shoebox_rir(dims: tuple[float, float, float], rt60: float, source: tuple[float, float, float],
                mics: list[tuple[float, float, float]], sr: int, seed: int, ray_tracing: bool = True,
                max_order: int = 3) -> np.ndarray:
    """Room impulse responses (taps, len(mics)) of a pyroomacoustics ShoeBox tuned to `rt60`.

    inverse_sabine gives the wall absorption for the target RT60; with `ray_tracing` the
    hybrid model (image sources up to `max_order`, then ray tracing) renders the long tail.
    The libroom RNG is seeded, so the same arguments give the same response."""
    import pyroomacoustics as pra

    import warnings

    warnings.filterwarnings("ignore", message="The number of rays", category=UserWarning)
    pra.random.seed(seed)
    e_abs, order = pra.inverse_sabine(rt60, list(dims))
    room = pra.ShoeBox(list(dims), fs=sr, materials=pra.Material(e_abs),
                       max_order=max_order if ray_tracing else min(order, max_order),
                       ray_tracing=ray_tracing, air_absorption=True)
    if ray_tracing:
        room.set_ray_tracing(receiver_radius=0.5, n_rays=20000, energy_thres=1e-6)
    room.add_source(list(source))
    room.add_microphone_array(np.array(mics, dtype=float).T)
    room.compute_rir()
    n = max(len(room.rir[m][0]) for m in range(len(mics)))
    return np.stack([fit(np.asarray(room.rir[m][0]), n)[:, 0] for m in range(len(mics))], axis=1).astype(np.float32)


def measured_rt60(ir: np.ndarray, sr: int) -> float:
    """T20-based RT60 of the first IR channel (Schroeder backward integration)."""
    h = as2d(ir)[:, 0].astype(np.float64)
    e = np.cumsum(h[::-1] ** 2)[::-1]
    e = 10 * np.log10(e / e[0] + 1e-30)
    i5, i25 = int(np.argmax(e < -5)), int(np.argmax(e < -25))
    return 3 * (i25 - i5) / sr


def hall_ir(path: Path, sr: int, predelay: float = 0.0) -> np.ndarray:
    """Load a recorded (stereo) hall IR, resample it and optionally delay it."""
    ir, rate = sf.read(path, dtype="float32", always_2d=True)
    ir = resample(ir, rate, sr)
    ir = np.pad(ir, ((int(predelay * sr), 0), (0, 0)))
    return (ir / np.max(np.abs(ir))).astype(np.float32)


def decorrelate_stereo(ir: np.ndarray, sr: int, seed: int, spacing_ms: float = 0.7) -> np.ndarray:
    """Make a second channel from a mono IR: a small delay plus a different late tail sign pattern."""
    h = as2d(ir)[:, 0]
    d = int(spacing_ms * sr / 1000)
    other = np.concatenate([np.zeros(d, np.float32), h[:-d]]) if d else h.copy()
    rng = np.random.default_rng(seed)
    late = int(0.08 * sr)
    flip = np.repeat(np.sign(rng.standard_normal(len(h) // 64 + 1)), 64)[: len(h) - late]
    other[late:] *= flip.astype(np.float32)
    return np.stack([h, other], axis=1)


# --------------------------------------------------------------------------- crowd and applause
def crowd_bed(recordings: list[np.ndarray], n: int, sr: int, rng: np.random.Generator,
              channels: int = 2) -> np.ndarray:
    """A crowd murmur of n frames: each recording tiled from random offsets, independent per channel."""
    out = np.zeros((n, channels), np.float32)
    for rec in recordings:
        rec = as2d(rec)
        rec = rec / (rms(rec) + 1e-9)
        for c in range(channels):
            out[:, c] += loop_to(rec[:, c % rec.shape[1]], n, sr, rng)[:, 0] * float(rng.uniform(0.6, 1.0))
    return out / (rms(out) + 1e-9) * 0.1


def loud_bursts(recording: np.ndarray, sr: int, length: float = 0.6, top: int = 3) -> list[np.ndarray]:
    """The `top` loudest non-overlapping windows of a crowd recording (cheers, shouts)."""
    x = as2d(recording)
    n = int(length * sr)
    hop = n // 4
    energies = [(rms(x[i:i + n]), i) for i in range(0, max(1, len(x) - n), hop)]
    picked: list[int] = []
    for _, i in sorted(energies, reverse=True):
        if all(abs(i - j) >= n for j in picked):
            picked.append(i)
        if len(picked) == top:
            break
    return [fade(x[i:i + n], sr, 0.05, 0.1) for i in picked]


def clap_train(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One clapper: claps at 2.5-5 Hz with jitter, each 2-12 ms of decaying broadband noise,
    through the clapper's own hand resonance (a band-pass around 0.8-2.5 kHz) plus some of the raw burst."""
    n = int(seconds * sr)
    buf = np.zeros(n + sr, np.float64)
    rate = rng.uniform(2.5, 5.0)
    t = rng.uniform(0, 0.5)
    stop = seconds * rng.uniform(0.75, 1.0)
    while t < stop:
        k = int(rng.uniform(0.002, 0.012) * sr) + int(0.02 * sr)
        env = np.exp(-np.arange(k) / sr / rng.uniform(0.004, 0.012))
        i = int(t * sr)
        buf[i:i + k] += rng.standard_normal(k) * env * rng.uniform(0.7, 1.0)
        t += 1 / rate * rng.uniform(0.85, 1.15)
    f0 = rng.uniform(800, 2500)
    sos = butter(2, [f0 / 1.8, min(f0 * 1.8, sr / 2 - 100)], btype="band", fs=sr, output="sos")
    buf += 1e-12  # keeps the filter state out of denormals between claps (100x slower otherwise)
    return (sosfilt(sos, buf) * 0.7 + buf * 0.3)[:n].astype(np.float32)


def synth_applause(seconds: float, sr: int, rng: np.random.Generator, clappers: int = 60,
                   channels: int = 2) -> np.ndarray:
    """Dense trains of claps (`clappers` clap_train()s, each panned at random), shaped by a
    swell (0.4-1 s) and a slow decay over the last 40 %."""
    n = int(seconds * sr)
    out = np.zeros((n, channels), np.float32)
    for _ in range(clappers):
        pan = rng.uniform(0.1, 0.9)
        gains = np.array([np.sqrt(1 - pan), np.sqrt(pan)], np.float32) if channels == 2 else np.ones(1, np.float32)
        out += clap_train(seconds, sr, rng)[:, None] * gains[None, :] * np.float32(rng.uniform(0.3, 1.0))
    env = np.ones(n, np.float32)
    a = int(rng.uniform(0.4, 1.0) * sr)
    env[:a] = np.linspace(0, 1, a) ** 2
    r = int(0.4 * n)
    env[-r:] = np.linspace(1, 0, r) ** 1.5
    return out * env[:, None] / (rms(out) + 1e-9) * 0.1


def applause(seconds: float, sr: int, rng: np.random.Generator, crowd: np.ndarray | None = None,
             channels: int = 2) -> np.ndarray:
    """Synthesised clapping with a few cheers cut from a crowd recording's loudest bursts."""
    out = synth_applause(seconds, sr, rng, channels=channels)
    if crowd is not None:
        for b in loud_bursts(crowd, sr, top=3):
            b = to_channels(b, channels) / (rms(b) + 1e-9) * 0.05
            i = int(rng.uniform(0.1, 0.6) * len(out))
            k = min(len(b), len(out) - i)
            out[i:i + k] += b[:k]
    return out


# --------------------------------------------------------------------------- recorder colouring
def low_shelf(x: np.ndarray, sr: int, gain_db: float, f0: float = 150.0) -> np.ndarray:
    """RBJ low shelf (S = 1): +gain_db below f0."""
    from scipy.signal import lfilter

    A = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / 2 * np.sqrt(2)
    cw = np.cos(w0)
    b = np.array([A * ((A + 1) - (A - 1) * cw + 2 * np.sqrt(A) * alpha), 2 * A * ((A - 1) - (A + 1) * cw),
                  A * ((A + 1) - (A - 1) * cw - 2 * np.sqrt(A) * alpha)])
    a = np.array([(A + 1) + (A - 1) * cw + 2 * np.sqrt(A) * alpha, -2 * ((A - 1) + (A + 1) * cw),
                  (A + 1) + (A - 1) * cw - 2 * np.sqrt(A) * alpha])
    return lfilter(b / a[0], a / a[0], as2d(x), axis=0).astype(np.float32)


def handheld(x: np.ndarray, sr: int, boom_db: float = 6.0, lowpass_hz: float = 12000.0) -> np.ndarray:
    """A handheld recorder's colour: low-frequency boom (low shelf below 150 Hz), a gentle
    2nd-order roll-off at `lowpass_hz` and a 25 Hz high-pass (no brick wall)."""
    y = low_shelf(x, sr, boom_db, 150.0)
    y = sosfilt(butter(2, lowpass_hz, fs=sr, output="sos"), y, axis=0)
    y = sosfilt(butter(1, 25, btype="high", fs=sr, output="sos"), y, axis=0)
    return y.astype(np.float32)


def soft_limit(x: np.ndarray, ceiling_db: float = -1.0) -> np.ndarray:
    """Peak-normalise to the ceiling after a gentle tanh knee on the loudest peaks."""
    c = db(ceiling_db)
    top = float(np.percentile(np.abs(x), 99.995)) if x.size else 0.0
    if top <= 0:
        return x.astype(np.float32)
    x = x * (c / top)  # only the top 0.005 % of samples reach the knee
    y = np.tanh(x / (c * 1.2)) * c * 1.2
    return peak_normalise(y, ceiling_db)


# --------------------------------------------------------------------------- concerts
@dataclass(frozen=True)
class Hall:
    """A room and where the band, the taper and the crowd are."""

    dims: tuple[float, float, float]
    rt60: float
    stage: tuple[float, float, float]
    mics: tuple[tuple[float, float, float], tuple[float, float, float]]


def audience_recording(music: np.ndarray, sr: int, rng: np.random.Generator, far_ir: np.ndarray,
                       near_ir: np.ndarray, crowd: list[np.ndarray], snr_db: float, applause_s: tuple[float, float],
                       boom_db: float, lowpass_hz: float, cheer: np.ndarray | None = None) -> np.ndarray:
    """Music heard from the floor: music * far IR + crowd * near IR at `snr_db` under the music,
    applause at the start and the end, then the handheld recorder's colour. Stereo out."""
    music = to_channels(music, 1)
    wet = convolve(music, far_ir)
    head, tail = (int(s * sr) for s in applause_s)
    n = head + len(wet) + tail
    body = np.zeros((n, 2), np.float32)
    body[head:head + len(wet)] = wet / (active_rms(wet, sr) + 1e-9) * 0.1
    noise = convolve(crowd_bed(crowd, n, sr, rng), near_ir)
    body += noise / (rms(noise) + 1e-9) * 0.1 * db(-snr_db)
    for start, secs in ((0, applause_s[0] + 1.5), (head + len(wet) - int(2.0 * sr), applause_s[1] + 2.0)):
        ap = convolve(to_channels(applause(secs, sr, rng, cheer), 2), near_ir)
        ap = ap / (active_rms(ap, sr) + 1e-9) * 0.1  # the taper stands in the crowd: applause as loud as the band
        k = min(len(ap), n - start)
        body[start:start + k] += ap[:k] * db(rng.uniform(-1, 4))
    body = handheld(body, sr, boom_db, lowpass_hz)
    return soft_limit(fade(body, sr, 0.3, 1.0), -1.0)


def soundboard_recording(music: np.ndarray, sr: int, rng: np.random.Generator, crowd: list[np.ndarray],
                         crowd_db: float = -28.0, applause_s: float = 4.0, cheer: np.ndarray | None = None) -> np.ndarray:
    """A soundboard (SBD) tape: the dry mix straight off the desk, the crowd faint (bleed
    through the vocal mics) and a short, distant applause at the end."""
    music = to_channels(music, 2)
    n = len(music) + int(applause_s * sr)
    out = np.zeros((n, 2), np.float32)
    out[: len(music)] = music / (active_rms(music, sr) + 1e-9) * 0.1
    out += crowd_bed(crowd, n, sr, rng) * db(crowd_db)
    ap = applause(applause_s + 1.0, sr, rng, cheer)
    out[n - len(ap):] += ap[-n:] * db(crowd_db + 10)
    return soft_limit(fade(out, sr, 0.05, 0.8), -1.0)


# --------------------------------------------------------------------------- speech
@dataclass(frozen=True)
class Voice:
    """One TTS voice: engine ("piper" | "espeak" | "festival") plus engine options."""

    name: str
    engine: str
    variant: str = ""  # espeak voice+variant, e.g. "en-us+f3"
    speed: int = 165  # espeak words per minute
    pitch: int = 50  # espeak pitch 0..99
    model: str = ""  # piper: path to the .onnx voice


_PIPER: dict[str, object] = {}


def tts(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    """Synthesise `text` with an offline TTS engine; returns (mono float32, rate).

    piper: in-process, noise_scale = noise_w_scale = 0 (deterministic);
    espeak: `espeak-ng -v VARIANT -s SPEED -p PITCH --stdout`;
    festival: `text2wave` with the cmu_us_slt_arctic_hts voice."""
    if voice.engine == "piper":
        import wave

        from piper import PiperVoice, SynthesisConfig

        if voice.model not in _PIPER:
            _PIPER[voice.model] = PiperVoice.load(voice.model)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            _PIPER[voice.model].synthesize_wav(text, w, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))  # type: ignore[attr-defined]
        buf.seek(0)
        audio, sr = sf.read(buf, dtype="float32", always_2d=True)
        return audio[:, 0], sr
    if voice.engine == "espeak":
        wav = subprocess.run(["espeak-ng", "-v", voice.variant, "-s", str(voice.speed), "-p", str(voice.pitch),
                              "--stdout", text], check=True, capture_output=True).stdout
        audio, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        return audio[:, 0], sr
    if voice.engine == "festival":
        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            src.write_text(text)
            subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", str(src), "-o", str(out)],
                           check=True, capture_output=True)
            audio, sr = sf.read(out, dtype="float32", always_2d=True)
        return audio[:, 0], sr
    raise ValueError(f"unknown TTS engine {voice.engine}")


def trim_silence(x: np.ndarray, sr: int, gate_db: float = -45.0, pad: float = 0.03) -> np.ndarray:
    """Cut leading and trailing silence (below `gate_db` of the peak), keeping `pad` seconds."""
    x = np.asarray(x, np.float32)
    if not x.size:
        return x
    thr = np.max(np.abs(x)) * db(gate_db)
    idx = np.flatnonzero(np.abs(x) > thr)
    if not len(idx):
        return x[:0]
    p = int(pad * sr)
    return x[max(0, idx[0] - p): idx[-1] + p]


@dataclass(frozen=True)
class Turn:
    """One speaker turn placed in a recording: start and duration in seconds."""

    speaker: str
    start: float
    dur: float
    text: str


def assemble_dialogue(utterances: list[tuple[str, np.ndarray, str]], sr: int, rng: np.random.Generator,
                      pause: tuple[float, float] = (0.3, 1.5), lead: float = 0.0,
                      levels: dict[str, float] | None = None) -> tuple[np.ndarray, list[Turn]]:
    """Lay (speaker, mono audio at sr, text) utterances end to end with natural pauses.

    Consecutive utterances of one speaker get a shorter, sentence-like pause (0.15-0.5 s)
    and merge into one turn; a change of speaker gets a pause drawn from `pause`.
    Each speaker's level is set by `levels` (dB, default 0) after normalising to -20 dBFS RMS."""
    pieces: list[np.ndarray] = [np.zeros(int(lead * sr), np.float32)]
    turns: list[Turn] = []
    t = lead
    prev = None
    for spk, audio, text in utterances:
        audio = trim_silence(audio, sr)
        audio = audio / (active_rms(audio, sr) + 1e-9) * db(-20 + (levels or {}).get(spk, 0.0))
        if prev is not None:
            gap = rng.uniform(0.15, 0.5) if spk == prev else rng.uniform(*pause)
            pieces.append(np.zeros(int(round(gap * sr)), np.float32))
            t += int(round(gap * sr)) / sr
        dur = len(audio) / sr
        if turns and spk == prev:
            last = turns[-1]
            turns[-1] = Turn(spk, last.start, round(t + dur - last.start, 3), f"{last.text} {text}")
        else:
            turns.append(Turn(spk, round(t, 3), round(dur, 3), text))
        pieces.append(audio.astype(np.float32))
        t += dur
        prev = spk
    return np.concatenate(pieces)[:, None], turns


def speech_activity(x: np.ndarray, sr: int, win: float = 0.02, gate_db: float = -35.0) -> np.ndarray:
    """Per-sample 0/1 speech activity from a windowed RMS gate (relative to the loudest window)."""
    mono = as2d(x).mean(axis=1)
    n = int(win * sr)
    k = len(mono) // n
    e = np.sqrt((mono[: k * n].reshape(k, n).astype(np.float64) ** 2).mean(axis=1) + 1e-20)
    on = (e > e.max() * db(gate_db)).astype(np.float32)
    return fit(np.repeat(on, n), len(mono))[:, 0]


def duck_bed(speech: np.ndarray, bed: np.ndarray, sr: int, under_db: float, intro: float, outro: float,
             regions: tuple[float, float]) -> np.ndarray:
    """Mix a music bed under speech: full level (speech level -3 dB) where nobody speaks,
    `under_db` (e.g. -15) under the speech level while someone speaks (ducked, 0.25 s
    attack/0.6 s release smoothing). The bed plays only in the first `regions[0]` and the
    last `regions[1]` seconds of speech plus `intro`/`outro` seconds of music alone."""
    speech = as2d(speech)
    ch = max(speech.shape[1], as2d(bed).shape[1])
    head, tail = int(intro * sr), int(outro * sr)
    n = head + len(speech) + tail
    out = np.zeros((n, ch), np.float32)
    out[head:head + len(speech)] += to_channels(speech, ch)
    level = active_rms(speech, sr)
    act = np.zeros(n, np.float32)
    act[head:head + len(speech)] = speech_activity(speech, sr)
    # smooth: hold speech activity over short pauses so the bed does not pump between words
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    act = maximum_filter1d(act, int(0.6 * sr))
    act = uniform_filter1d(act, int(0.25 * sr))
    gain = db(-3) * (1 - act) + db(under_db) * act
    # where the bed plays at all: intro + first region, last region + outro, with fades
    present = np.zeros(n, np.float32)
    a, b = head + int(regions[0] * sr), head + len(speech) - int(regions[1] * sr)
    present[:a] = 1
    present[b:] = 1
    present = uniform_filter1d(present, int(2.0 * sr))
    bed = loop_to(to_channels(bed, ch), n, sr, np.random.default_rng(0), xfade=0.5)
    bed = fade(bed / (active_rms(bed, sr) + 1e-9) * level, sr, 0.5, 2.0)
    out += bed * (gain * present)[:, None]
    return out


def rttm(file_id: str, turns: list[Turn], offset: float = 0.0) -> str:
    """NIST RTTM speaker lines: SPEAKER <file> 1 <start> <dur> <NA> <NA> <spk> <NA> <NA>."""
    return "".join(f"SPEAKER {file_id} 1 {t.start + offset:.3f} {t.dur:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
                   for t in turns)


def transcript(turns: list[Turn], offset: float = 0.0) -> str:
    """One line per turn: [start-end] speaker: text."""
    return "".join(f"[{t.start + offset:7.2f}-{t.start + offset + t.dur:7.2f}] {t.speaker}: {t.text}\n"
                   for t in turns)


def clean_prompts(lines: list[str]) -> list[str]:
    """Sentences from Asterisk's core-sounds-en.txt: `name: text` lines, no [tone] notes,
    split into sentences, at least 4 words, without trailing ellipses."""
    import re

    out: list[str] = []
    for line in lines:
        if line.startswith(";") or ":" not in line:
            continue
        text = line.split(":", 1)[1].strip()
        if not text or "[" in text or "<" in text:
            continue
        for s in re.split(r"(?<=[.!?])\s+", text):
            s = s.strip()
            if not s or not s[0].isupper() or any(c in s for c in "()*#") or "..." in s:
                continue
            s = s.rstrip(".").strip()
            if len(s.split()) >= 4 and not s.endswith(","):
                out.append(s + ("" if s.endswith(("?", "!")) else "."))
    return sorted(set(out))
