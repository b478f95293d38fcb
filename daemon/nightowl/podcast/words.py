"""Transcript data: words and segments with times, probabilities and speakers.

Plain dataclasses that go to and from JSON, so a finished transcription stage can be
checkpointed and the outputs written from the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str  # as Whisper gives it, with its leading space
    probability: float
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text.strip(),
                "probability": round(self.probability, 4), "speaker": self.speaker}


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    # Whisper's own confidence figures for the decoding window the segment came from
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "speaker": self.speaker,
                "text": self.text.strip(), "avg_logprob": round(self.avg_logprob, 4),
                "no_speech_prob": round(self.no_speech_prob, 4),
                "compression_ratio": round(self.compression_ratio, 3),
                "words": [w.to_dict() for w in self.words]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        words = tuple(Word(w["start"], w["end"], " " + w["text"], w["probability"], w.get("speaker"))
                      for w in d.get("words", []))
        return cls(d["start"], d["end"], " " + d["text"], words, d.get("speaker"), d.get("avg_logprob", 0.0),
                   d.get("no_speech_prob", 0.0), d.get("compression_ratio", 1.0))


def text_of(words: tuple[Word, ...] | list[Word]) -> str:
    """Words joined as Whisper spells them (each carries its own leading space)."""
    return "".join(w.text for w in words).strip()


def with_speaker(segment: Segment, words: tuple[Word, ...], speaker: str | None) -> Segment:
    return replace(segment, start=words[0].start, end=words[-1].end, text=text_of(words), words=words,
                   speaker=speaker)


def as_dicts(segments: list[Segment]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in segments]

