"""Everything intake learns about one file: probe, lossless check, class.

Runs in a child process for the daemon (numpy/PyAV stay out of the daemon) and
in-process for `nightowl explain`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..audio.decode import DecodeError, decode_excerpts
from ..audio.probe import Probe, ProbeError, probe
from .decide import decide_class
from .lossless import check_lossless

# a few excerpts are enough for the check and keep intake cheap on long files
EXCERPTS = 4
EXCERPT_SECONDS = 4.5

NOT_APPLICABLE = {"verdict": "not_applicable", "source_codec": None, "cutoff_hz": None, "confidence": None}


@dataclass(frozen=True)
class Analysis:
    path: str
    ok: bool
    error: str | None = None
    probe: dict[str, Any] | None = None
    file_class: str = "unknown"
    confidence: float = 0.0
    lossless_check: dict[str, Any] = field(default_factory=lambda: dict(NOT_APPLICABLE))
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def evidence(self) -> dict[str, Any]:
        return {"lossless_check": self.lossless_check, "reasons": self.reasons}


def lossless_check_of(path: Path, info: Probe) -> dict[str, Any]:
    """Run the fake-lossless check on excerpts of a lossless file."""
    excerpts, sr = decode_excerpts(path, info.duration, count=EXCERPTS, length=EXCERPT_SECONDS)
    return check_lossless(excerpts, sr).to_dict()


def analyse(path: str | Path) -> Analysis:
    """Probe, check and classify one file. Never raises for bad input: `ok` is False instead."""
    path = Path(path)
    try:
        info = probe(path)
    except ProbeError as exc:
        return Analysis(path=str(path), ok=False, error=str(exc), reasons=[f"unreadable: {exc}"])
    check = dict(NOT_APPLICABLE)
    if info.lossless:
        try:
            check = lossless_check_of(path, info)
        except DecodeError as exc:
            return Analysis(path=str(path), ok=False, error=f"cannot decode: {exc}", probe=info.to_dict())
    decision = decide_class(info, check)
    return Analysis(
        path=str(path),
        ok=True,
        probe=info.to_dict(),
        file_class=decision.file_class,
        confidence=round(decision.confidence, 3),
        lossless_check=check,
        reasons=decision.reasons + list(check.get("reasons", [])),
    )
