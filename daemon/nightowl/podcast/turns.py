"""Speaker turns: who speaks when. The diarizer's output and the RTTM reference format."""

from __future__ import annotations

from typing import NamedTuple


class Turn(NamedTuple):
    start: float  # seconds
    end: float
    speaker: str  # the diarizer's label, e.g. SPEAKER_00

    @property
    def duration(self) -> float:
        return self.end - self.start


def read_rttm(text: str) -> list[Turn]:
    """Turns from RTTM lines (`SPEAKER file 1 start duration <NA> <NA> speaker <NA> <NA>`), by start."""
    turns = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, dur = float(fields[3]), float(fields[4])
            turns.append(Turn(start, start + dur, fields[7]))
    return sorted(turns)


def write_rttm(turns: list[Turn], file_id: str) -> str:
    return "".join(f"SPEAKER {file_id} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
                   for t in turns)
