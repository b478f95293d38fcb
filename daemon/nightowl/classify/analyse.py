"""Everything intake learns about one file: probe, lossless check, speech and room features, class.

Runs in a child process for the daemon (numpy, PyAV and the speech model stay out
of the daemon) and in-process for `nightowl explain`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.decode import DecodeError, decode_ends, decode_excerpts, decode_plan, excerpt_offsets
from ..audio.probe import NoAudio, Probe, ProbeError, probe
from .concert import concert_features, concert_score, end_features, score_with_applause_at_ends
from .decide import SILENT_PEAK, decide_class
from .options import ClassOptions
from .lossless import check_lossless
from .podcast import podcast_metadata_cues, podcast_score
from .speech import speech_features, speech_share
from .taper import source_kind, taper_cues

# a few excerpts are enough for every feature and keep intake cheap on long files
EXCERPTS = 3
EXCERPT_SECONDS = 3.0
# files up to this long are analysed whole (one excerpt): they cost little either way
WHOLE_SECONDS = 45.0
# head and tail: applause. Decoded only where applause there could change the class (see
# _ends_could_decide): for most files the middle already rules out a live recording
EDGE_SECONDS = 5.0
# speech features need long stretches (turn-taking); they run only where a quick listen
# hears talk or the tags say podcast, so music files never pay for them
SPEECH_EXCERPTS = 4
SPEECH_EXCERPT_SECONDS = 20.0
SCREEN_SPEECH_SHARE = 0.2
SIDECAR_SUFFIXES = {".txt", ".md", ".nfo", ".info"}
SIDECAR_BYTES = 64 * 1024

log = logging.getLogger(__name__)

NOT_APPLICABLE = {"verdict": "not_applicable", "source_codec": None, "cutoff_hz": None, "confidence": None}


@dataclass(frozen=True)
class Analysis:
    path: str
    ok: bool
    error: str | None = None
    not_audio: bool = False  # it opened, but holds no sound (a video without a soundtrack)
    probe: dict[str, Any] | None = None
    file_class: str = "unknown"
    confidence: float = 0.0
    lossless_check: dict[str, Any] = field(default_factory=lambda: dict(NOT_APPLICABLE))
    reasons: list[str] = field(default_factory=list)
    # per class: its score and the cues behind it; and the measured features
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_excerpts(path: Path, duration: float, sample_rate: int) -> tuple[list[np.ndarray], int, list[int]]:
    """The middle excerpts intake checks (the whole file where it is short), their sample
    rate and their first samples in the file."""
    excerpts, sr = decode_excerpts(path, duration, count=EXCERPTS, length=EXCERPT_SECONDS, sample_rate=sample_rate,
                                   whole_up_to=WHOLE_SECONDS)
    return excerpts, sr, excerpt_offsets(duration, EXCERPTS, EXCERPT_SECONDS, sample_rate, WHOLE_SECONDS)


def lossless_check_of(path: Path, info: Probe) -> dict[str, Any]:
    """Run the fake-lossless check on excerpts of a lossless file."""
    excerpts, sr, starts = check_excerpts(path, info.duration, info.sample_rate)
    return check_lossless(excerpts, sr, starts).to_dict()


# A folder's listing is taken again only where it changed (its mtime moved): an inbox
# folder may hold thousands of recordings, and listing it for each of them made intake
# quadratic in the folder's size (about 9 ms a file in a folder of 5,000). A listing
# taken within RACY_SECONDS of the folder's last change is not kept: a sidecar written
# in that same tick of a coarse clock (FAT, some network shares) would not move the mtime
RACY_SECONDS = 2.0
_LISTINGS_KEPT = 256
_listings: dict[str, tuple[int, list[str]]] = {}


def _sidecar_names(folder: Path) -> list[str]:
    """Names of the text files that may be lineage or info files in `folder`, sorted."""
    key = str(folder)
    mtime = os.stat(key).st_mtime_ns
    kept = _listings.get(key)
    if kept is not None and kept[0] == mtime:
        return kept[1]
    with os.scandir(key) as entries:  # names only: no Path per entry
        names = sorted(e.name for e in entries if os.path.splitext(e.name)[1].lower() in SIDECAR_SUFFIXES)
    if time.time() - mtime / 1e9 > RACY_SECONDS:
        if len(_listings) >= _LISTINGS_KEPT:
            _listings.clear()
        _listings[key] = (mtime, names)
    return names


def read_sidecars(path: Path) -> dict[str, str]:
    """The text files beside a recording and in its parent folder (lineage, info files)."""
    texts: dict[str, str] = {}
    for folder in (path.parent, path.parent.parent):
        try:
            candidates = _sidecar_names(folder)
        except OSError:
            continue
        for name in candidates[:20]:
            p = folder / name
            try:
                if p.is_file() and not p.is_symlink():
                    with p.open("rb") as fh:
                        texts[name] = fh.read(SIDECAR_BYTES).decode("utf-8", errors="replace")
            except OSError:
                continue
    return texts


def _speech_excerpts(path: Path, info: Probe, plan: Any) -> list[Any]:
    """Long excerpts for the speech features (the whole file when it is short)."""
    if len(plan.middle) == 1:
        return plan.middle  # already the whole file
    excerpts, _ = decode_excerpts(path, info.duration, count=SPEECH_EXCERPTS, length=SPEECH_EXCERPT_SECONDS)
    return excerpts


def _peak(parts: list[np.ndarray]) -> float:
    # the largest magnitude from the extremes: np.abs would copy 30-odd seconds of samples
    return max((max(float(x.max()), -float(x.min())) for x in parts if x.size), default=0.0)


def _ends_could_decide(room: dict[str, float], taper: list[Any], podcast: float, peak: float,
                       options: ClassOptions) -> bool:
    """Could what the first and last seconds hold change the class? Only applause is
    heard there, and it only adds to the concert score: where even applause all through
    both ends would leave the score under the threshold (and under a podcast's score),
    the ends cannot matter. Where the middle is silent they are heard all the same."""
    if peak < SILENT_PEAK:
        return True
    best = score_with_applause_at_ends(room, taper)
    return best >= options.concert_threshold or (podcast >= options.podcast_threshold and best > podcast)


def analyse(path: str | Path, options: ClassOptions | None = None) -> Analysis:
    """Probe, measure and classify one file. Never raises for bad input: `ok` is False instead."""
    options = options or ClassOptions()
    path = Path(path)
    try:
        info = probe(path)
    except ProbeError as exc:
        return Analysis(path=str(path), ok=False, error=str(exc), not_audio=isinstance(exc, NoAudio),
                        reasons=[f"unreadable: {exc}"])
    try:
        plan = decode_plan(path, info.duration, count=EXCERPTS, length=EXCERPT_SECONDS, edge=EDGE_SECONDS,
                           sample_rate=info.sample_rate, whole_up_to=WHOLE_SECONDS)
    except DecodeError as exc:
        return Analysis(path=str(path), ok=False, error=f"cannot decode: {exc}", probe=info.to_dict())
    sr = plan.sample_rate
    head, tail = plan.head, plan.tail  # short files: sliced from the whole; long ones: decoded where they matter
    if all(x.size == 0 for x in plan.middle):
        return Analysis(path=str(path), ok=False, error="the file holds no audio samples", probe=info.to_dict(),
                        reasons=["unreadable: the file holds no audio samples"])
    peak = _peak([x for x in (head, *plan.middle, tail) if x is not None])
    if not np.isfinite(peak):  # NaN or infinity in the extremes: only a float file can hold them
        error = "the file holds samples that are not numbers (NaN or infinity): it is damaged"
        return Analysis(path=str(path), ok=False, error=error, probe=info.to_dict(), reasons=[f"unreadable: {error}"])
    check = check_lossless(plan.middle, sr, plan.starts).to_dict() if info.lossless else dict(NOT_APPLICABLE)
    tag_cues = podcast_metadata_cues(info.tags, path)
    # a short file is one excerpt: listen at four places in it all the same
    heard = speech_share(plan.middle if len(plan.middle) > 1 else np.array_split(plan.middle[0], SPEECH_EXCERPTS), sr)
    speech: dict[str, float] = {}
    if heard >= SCREEN_SPEECH_SHARE or any(c.weight > 0 for c in tag_cues):
        speech = speech_features(_speech_excerpts(path, info, plan), sr)
    room = concert_features(plan.middle, sr, head, tail)
    taper = taper_cues(path, read_sidecars(path))
    pod_score, pod_cues = podcast_score(speech, tag_cues, info.duration, info.channels,
                                        options.podcast_min_minutes)
    if head is None and _ends_could_decide(room, taper, pod_score, peak, options):
        try:
            head, tail = decode_ends(path, info.duration, EDGE_SECONDS)
        except DecodeError as exc:
            return Analysis(path=str(path), ok=False, error=f"cannot decode: {exc}", probe=info.to_dict())
        peak = max(peak, _peak([head, tail]))
        room |= end_features(head, tail, sr, room)
    live_score, live_cues = concert_score(room, taper)
    decision = decide_class(info, check, podcast=pod_score, concert=live_score, speech=speech, options=options,
                            peak=peak)
    concert = {"score": round(live_score, 3), "source": source_kind(taper),
               "cues": [c.to_dict() for c in live_cues]}
    if head is None:
        concert["ends"] = "the first and last seconds were not heard: applause there could not make this a live recording"
    evidence = {
        "lossless_check": check,
        "podcast": {"score": round(pod_score, 3), "cues": [c.to_dict() for c in pod_cues]},
        "concert": concert,
        "speech": {"quick_listen_speech_share": round(heard, 3), **speech},
        "room": room,
    }
    return Analysis(
        path=str(path),
        ok=True,
        probe=info.to_dict(),
        file_class=decision.file_class,
        confidence=round(decision.confidence, 3),
        lossless_check=check,
        reasons=decision.reasons + list(check.get("reasons", [])),
        evidence=evidence,
    )


def analyse_safely(path: str | Path, options: ClassOptions | None = None) -> dict[str, Any]:
    """`analyse` as a plain dict, where a failure inside the analysis itself (input that
    nothing here foresaw, or a bug) is an error result too: the file gets a clear event
    and no job, the traceback goes to the log, and intake goes on with the next file."""
    try:
        return analyse(path, options).to_dict()
    except Exception as exc:  # noqa: BLE001 - the process boundary: nothing may escape
        log.exception("the analysis failed on %s", path)
        error = f"the analysis failed on this file ({type(exc).__name__}: {exc})"
        return Analysis(path=str(path), ok=False, error=error, reasons=[error]).to_dict()
