"""Transcript files: SRT, WebVTT (with `<v Speaker>` voice tags), speaker-labelled text.

Pure functions from segments to text. Subtitle cues are cut from the words so that a
cue never spans two speakers, stays readable (two lines of about 42 characters, at
most 7 seconds), of about equal length, and breaks at sentence ends, clause ends
and pauses where it can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .words import Segment, Word, text_of

MAX_CUE_CHARS = 84  # two lines of 42, the usual broadcast limit
MAX_CUE_SECONDS = 7.0
LINE_CHARS = 42
SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*$")
CLAUSE_END = re.compile(r"[,;:–—]['\"”’)]*$")
PARAGRAPH_GAP = 2.0  # seconds of silence that start a new paragraph in the text file


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    speaker: str | None


def _fits(run: list[Word]) -> bool:
    return len(text_of(run)) <= MAX_CUE_CHARS and run[-1].end - run[0].start <= MAX_CUE_SECONDS


def _split_words(words: list[Word]) -> list[list[Word]]:
    """Cut a run of one speaker's words into cues within the character and time limits.

    A run too long for one cue is cut into as few as will do, of about equal length, each
    cut moved to a sentence end, a clause end or a pause near where it would fall: filling
    cues greedily leaves a stub ("and the", 0.3 s) that flashes by before the next."""
    if len(words) <= 1 or _fits(words):
        return [words]
    chars = len(text_of(words))
    parts = max(-(-chars // MAX_CUE_CHARS), int(-(-(words[-1].end - words[0].start) // MAX_CUE_SECONDS)), 2)
    aim = (parts // 2) / parts  # the first cut: after half of the cues (a third of three)
    sizes = [len(w.text) for w in words]
    done, best, best_cost = 0, 1, float("inf")
    for i in range(1, len(words)):
        done += sizes[i - 1]
        before = words[i - 1].text.strip()
        gap = max(0.0, words[i].start - words[i - 1].end)
        cost = (abs(done / (chars + 1) - aim) - 0.25 * bool(SENTENCE_END.search(before))
                - 0.1 * bool(CLAUSE_END.search(before)) - 0.4 * min(gap, 1.0))
        if cost < best_cost:
            best, best_cost = i, cost
    return _split_words(words[:best]) + _split_words(words[best:])


def cues(segments: list[Segment]) -> list[Cue]:
    out: list[Cue] = []
    for seg in segments:
        if not seg.words:
            if seg.text.strip():
                out.append(Cue(seg.start, seg.end, seg.text.strip(), seg.speaker))
            continue
        for run in _split_words(list(seg.words)):
            out.append(Cue(run[0].start, max(run[-1].end, run[0].start + 0.2), text_of(run), seg.speaker))
    # cues must not overlap in players that show one at a time
    fixed: list[Cue] = []
    for i, c in enumerate(out):
        end = min(c.end, out[i + 1].start) if i + 1 < len(out) else c.end
        fixed.append(Cue(c.start, max(end, c.start + 0.01), c.text, c.speaker))
    return fixed


def wrap(text: str, width: int = LINE_CHARS) -> str:
    """At most two lines, broken at the space nearest the middle when the text is too long for one."""
    if len(text) <= width:
        return text
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if not spaces:
        return text
    mid = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return text[:mid] + "\n" + text[mid + 1:]


def _clock(seconds: float, sep: str) -> str:
    ms = round(max(seconds, 0.0) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[Segment]) -> str:
    blocks = []
    for n, c in enumerate(cues(segments), 1):
        label = f"{c.speaker}: " if c.speaker else ""
        blocks.append(f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{wrap(label + c.text)}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: list[Segment]) -> str:
    blocks = ["WEBVTT\n"]
    for c in cues(segments):
        body = wrap(_vtt_escape(c.text))
        if c.speaker:
            # a voice span covers one line only in some players: tag each line
            body = "\n".join(f"<v {_vtt_escape(c.speaker)}>{line}</v>" for line in body.split("\n"))
        blocks.append(f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{body}\n")
    return "\n".join(blocks)


def to_text(segments: list[Segment]) -> str:
    """Speaker-labelled paragraphs: a new paragraph when the speaker changes or after a long pause."""
    paragraphs: list[tuple[str | None, float, list[str]]] = []
    last_end = None
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if paragraphs and paragraphs[-1][0] == seg.speaker and last_end is not None \
                and seg.start - last_end < PARAGRAPH_GAP:
            paragraphs[-1][2].append(text)
        else:
            paragraphs.append((seg.speaker, seg.start, [text]))
        last_end = seg.end
    out = []
    for speaker, start, texts in paragraphs:
        stamp = _clock(start, ".")[:-4]
        head = f"[{stamp}] {speaker}: " if speaker else f"[{stamp}] "
        out.append(head + " ".join(texts))
    return "\n\n".join(out) + ("\n" if out else "")
