"""Transcript scoring shared by bench/podcast.py and the tests: word error rate after a
light normalisation, and speaker attribution against a reference transcript.

The normalisation is symmetric and small on purpose: case, punctuation and spelled-out
small numbers (Whisper writes "5" where a prompt may say "five", and the other way round).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jiwer

NUMBERS = {w: str(i) for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"])}


def normalise(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return [NUMBERS.get(w, w) for w in words if w]


def wer(reference: str, hypothesis: str) -> tuple[float, int]:
    """(word error rate, reference word count)."""
    ref, hyp = " ".join(normalise(reference)), " ".join(normalise(hypothesis))
    if not ref:
        return (0.0 if not hyp else 1.0), 0
    return float(jiwer.wer(ref, hyp)), len(ref.split())


@dataclass(frozen=True)
class RefSegment:
    start: float
    end: float
    speaker: str
    text: str


def read_stm(text: str) -> list[RefSegment]:
    """NIST STM lines: `file channel speaker start end text`."""
    out = []
    for line in text.splitlines():
        f = line.split(maxsplit=5)
        if len(f) >= 6 and not line.startswith(";;"):
            out.append(RefSegment(float(f[3]), float(f[4]), f[2], f[5]))
    return out


def read_corpus_transcript(text: str) -> list[RefSegment]:
    """The bench corpus's `[start-end] speaker: text` lines."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\[\s*([\d.]+)-\s*([\d.]+)\]\s*([^:]+):\s*(.*)$", line)
        if m:
            out.append(RefSegment(float(m[1]), float(m[2]), m[3].strip(), m[4]))
    return out


def reference_text(path: Path) -> list[RefSegment]:
    text = path.read_text()
    return read_stm(text) if path.suffix == ".stm" else read_corpus_transcript(text)


def label_map(turns: list[tuple[float, float, str]], ref: list[RefSegment]) -> dict[str, str]:
    """Diarization label -> reference speaker, by the most time shared."""
    shared: dict[tuple[str, str], float] = {}
    for a, b, label in turns:
        for seg in ref:
            o = min(b, seg.end) - max(a, seg.start)
            if o > 0:
                shared[(label, seg.speaker)] = shared.get((label, seg.speaker), 0.0) + o
    out: dict[str, str] = {}
    for (label, speaker), _ in sorted(shared.items(), key=lambda kv: -kv[1]):
        out.setdefault(label, speaker)
    return out


def attribution(words: list[tuple[str, str | None]], ref: list[RefSegment], labels: dict[str, str]) -> tuple[float, int]:
    """Share of hypothesis words, aligned to reference words (hits and substitutions), whose
    speaker (mapped through `labels`) is the reference word's speaker. Returns (share, words scored).

    `words`: (text, diarization label) in transcript order.
    """
    ref_words: list[tuple[str, str]] = [(w, seg.speaker) for seg in ref for w in normalise(seg.text)]
    hyp_words: list[tuple[str, str | None]] = [(w, spk) for text, spk in words for w in normalise(text)]
    if not ref_words or not hyp_words:
        return 0.0, 0
    out = jiwer.process_words(" ".join(w for w, _ in ref_words), " ".join(w for w, _ in hyp_words))
    right = scored = 0
    for chunk in out.alignments[0]:
        if chunk.type not in ("equal", "substitute"):
            continue
        for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
            ref_speaker = ref_words[chunk.ref_start_idx + k][1]
            label = hyp_words[chunk.hyp_start_idx + k][1]
            scored += 1
            right += int(label is not None and labels.get(label) == ref_speaker)
    return (right / scored if scored else 0.0), scored
