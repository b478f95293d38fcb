"""Where the speech is: silero VAD spans (seconds) on the cleaned 16 kHz speech.

The spans bound what Whisper sees (it invents text over silence and music) and let
the transcript drop segments that fall where nobody speaks. The detector is the
classifier's (silero's sequence ONNX model: one call per 16 s, the state carried
through the whole file).
"""

from __future__ import annotations

import numpy as np

from ..classify.speech import VAD_RATE, WINDOW_S, speech_probabilities, speech_segments

PAD_S = 0.2  # kept around each span: VAD trims word onsets and trailing consonants
MAX_CLIP_S = 30.0  # Whisper's window


def speech_spans(probs: np.ndarray, duration: float, pad: float = PAD_S) -> list[tuple[float, float]]:
    """Padded speech spans in seconds, overlapping ones merged."""
    spans: list[tuple[float, float]] = []
    for a, b in speech_segments(probs):
        start, end = max(0.0, a * WINDOW_S - pad), min(duration, b * WINDOW_S + pad)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _split_long(start: float, end: float, probs: np.ndarray, max_len: float) -> list[tuple[float, float]]:
    """Cut a span longer than Whisper's window at the quietest moment of each window's last third."""
    pieces = []
    while end - start > max_len:
        lo, hi = int((start + max_len * 2 / 3) / WINDOW_S), int((start + max_len) / WINDOW_S)
        window = probs[lo:hi]
        cut = (lo + int(np.argmin(window))) * WINDOW_S if len(window) else start + max_len
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def clips(spans: list[tuple[float, float]], probs: np.ndarray, max_len: float = MAX_CLIP_S) -> list[tuple[float, float]]:
    """Speech spans packed into clips of at most `max_len` seconds for Whisper: neighbouring spans
    share a clip (context helps the decoder), a span longer than a window is cut at a pause."""
    out: list[tuple[float, float]] = []
    for start, end in spans:
        for a, b in _split_long(start, end, probs, max_len):
            if out and b - out[-1][0] <= max_len:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def find_speech(audio16k: np.ndarray) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(padded speech spans, clips for Whisper) of 16 kHz mono audio."""
    probs = speech_probabilities(audio16k)
    spans = speech_spans(probs, len(audio16k) / VAD_RATE)
    return spans, clips(spans, probs)


def overlap_share(start: float, end: float, spans: list[tuple[float, float]]) -> float:
    """Share of [start, end] inside speech spans."""
    if end <= start:
        return 0.0
    inside = sum(max(0.0, min(end, b) - max(start, a)) for a, b in spans)
    return min(1.0, inside / (end - start))


__all__ = ["VAD_RATE", "clips", "find_speech", "overlap_share", "speech_probabilities", "speech_spans"]
