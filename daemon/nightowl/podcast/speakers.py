"""Speakers onto words: pure decisions from word times and diarization turns.

Each word gets the speaker whose turn overlaps it most; a word in no turn (diarizers
leave gaps at breaths and short words) gets the nearest turn's speaker. Segments are
then split wherever the speaker changes, so every segment has one voice.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from .turns import Turn
from .words import Segment, Word, with_speaker


def speaker_of(start: float, end: float, turns: list[Turn], starts: list[float] | None = None) -> str | None:
    """The speaker whose turns overlap [start, end] most; the nearest turn's where none does.

    `turns` sorted by start; `starts` their start times (pass it when calling in a loop).
    """
    if not turns:
        return None
    starts = starts if starts is not None else [t.start for t in turns]
    overlap: dict[str, float] = {}
    # turns starting before the word ends; long turns that began much earlier still overlap,
    # so look back over all of them (turn counts are small: thousands at most)
    hi = bisect.bisect_right(starts, end)
    for t in turns[:hi]:
        o = min(end, t.end) - max(start, t.start)
        if o > 0:
            overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
    if overlap:
        return max(sorted(overlap), key=lambda s: overlap[s])
    mid = (start + end) / 2

    def distance(t: Turn) -> float:
        return max(t.start - mid, mid - t.end, 0.0)

    return min(turns, key=distance).speaker


def assign_speakers(segments: list[Segment], turns: list[Turn]) -> list[Segment]:
    """Segments with a speaker on every word, split at each change of speaker."""
    turns = sorted(turns)
    starts = [t.start for t in turns]
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            out.append(replace(seg, speaker=speaker_of(seg.start, seg.end, turns, starts)))
            continue
        words = [replace(w, speaker=speaker_of(w.start, w.end, turns, starts)) for w in seg.words]
        run: list[Word] = [words[0]]
        for w in words[1:]:
            if w.speaker != run[-1].speaker:
                out.append(with_speaker(seg, tuple(run), run[-1].speaker))
                run = []
            run.append(w)
        out.append(with_speaker(seg, tuple(run), run[-1].speaker))
    return out


def name_speakers(segments: list[Segment], names: dict[str, str]) -> list[Segment]:
    """Replace diarizer labels (SPEAKER_00) by the user's names where given."""
    if not names:
        return segments

    def name(s: str | None) -> str | None:
        return names.get(s, s) if s is not None else None

    return [replace(seg, speaker=name(seg.speaker),
                    words=tuple(replace(w, speaker=name(w.speaker)) for w in seg.words)) for seg in segments]


def speakers_in_order(segments: list[Segment]) -> list[str]:
    """Speakers by first appearance."""
    seen: dict[str, None] = {}
    for seg in segments:
        if seg.speaker is not None:
            seen.setdefault(seg.speaker, None)
    return list(seen)
