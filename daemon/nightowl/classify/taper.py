"""Live-show context from names and the text files that travel with tapes.

Trading communities (etree and its descendants) name and document shows in a
recognisable way, and that context says more than the audio can:

* folders and files named artist + date (`gd77-05-08`, `ph1997-12-31`,
  `artist1994-05-12`), disc/set and track numbers (`d1t03`, `s2t05`);
* source tags in the name (`.aud.`, `.sbd.`, `.matrix.`) and format tags
  (`.flac16`, `.flac24`, `.shnf`);
* lineage files (`Source: AUD ...`, `Lineage: ...`, `Taper: ...`) naming the
  microphones (Schoeps MK4, DPA 4061, Neumann KM184, ...) and recorders
  (Zoom H4n, Tascam DR-40, Sony PCM-M10, ...).

Pure functions: the caller reads the text files (first 64 KiB each).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .podcast import Cue  # the shared evidence type (concert.py re-exports it)

_SEP = r"(?<![a-z0-9]){}(?![a-z0-9])"


def _tok(word: str) -> re.Pattern[str]:
    return re.compile(_SEP.format(word), re.IGNORECASE)


# artist letters then a 2- or 4-digit year, month and day: gd77-05-08, ph1997-12-31
SHOW_DATE = re.compile(
    r"(?<![a-z0-9])([a-z][a-z0-9]*?)((?:19|20)\d\d|\d\d)[-._](0[1-9]|1[0-2])[-._](0[1-9]|[12]\d|3[01])(?!\d)",
    re.IGNORECASE)
DISC_TRACK = re.compile(r"(?<![a-z])(?:d|cd|s|set)(\d{1,2})[ _-]?t(\d{1,3})(?![0-9])", re.IGNORECASE)
FORMAT_TAG = re.compile(r"(?<![a-z0-9])(flac1[6]|flac2[4]|shnf|flacf)(?![a-z0-9])", re.IGNORECASE)
NAME_SOURCES = {"aud": _tok("aud"), "sbd": _tok("sbd"), "matrix": _tok("(?:matrix|mtx)")}

SOURCE_LINE = re.compile(r"^\s*(?:source|src)\s*[:=-]\s*(.*)$", re.IGNORECASE | re.MULTILINE)
LINEAGE = re.compile(r"^\s*lineage\s*[:=-]", re.IGNORECASE | re.MULTILINE)
TAPER = re.compile(r"^\s*(?:taper|taped by)\s*[:=-]?", re.IGNORECASE | re.MULTILINE)
# "Recorded by" heads album and sound-effect credits as often as tape notes: it names a
# taper only in a file that also gives a source or a lineage
RECORDED_BY = re.compile(r"^\s*(?:recorded by|recorded and transferred by)\s*[:=-]?", re.IGNORECASE | re.MULTILINE)
TEXT_SOURCES = {
    "aud": re.compile(_SEP.format(r"(?:aud|audience)"), re.IGNORECASE),
    "sbd": re.compile(_SEP.format(r"(?:sbd|soundboard|sound board|board feed|dsbd)"), re.IGNORECASE),
    "matrix": re.compile(_SEP.format(r"(?:matrix|mtx)"), re.IGNORECASE),
}
# a show's date as info files write it: 1997-12-31, 12/31/97, 12.31.1997, December 31, 1997
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
TEXT_DATE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])[-./](?:19|20)?\d\d)(?!\d)"
    r"|(?<![a-z])" + _MONTHS + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d(?!\d)",
    re.IGNORECASE)
MICS = re.compile(
    r"(?<![a-z0-9])(schoeps\s*(?:mk\s?\d+|cmc\s?\d+\w*|ccm\s?\d+\w*)|dpa\s*40\d\d|neumann\s*km\s?1\d\d|"
    r"akg\s*c\s?\d{3,4}|sony\s*ecm[- ]?\w+|sennheiser\s*(?:mkh|mke)\s?\d+|core\s*sound|church\s*audio|"
    r"audio[- ]technica\s*at\s?\d{3,4}|nakamichi\s*cm\s?\d+|beyer\w*\s*m\s?\d{3})",
    re.IGNORECASE)
RECORDERS = re.compile(
    r"(?<![a-z0-9])(zoom\s*h\s?\d\w*|tascam\s*(?:dr|hd|da)[- ]?p?\d+\w*|sony\s*(?:pcm|tcd)[- ]?[a-z]*\d+\w*|"
    r"edirol\s*r[- ]?\d+|roland\s*r[- ]?\d+|marantz\s*pmd\s?\d+|sound\s*devices\s*\d+\w*|d8|dat\b)",
    re.IGNORECASE)


def _name_cues(path: Path) -> list[Cue]:
    cues: list[Cue] = []
    names = [path.name, path.parent.name, path.parent.parent.name]
    joined = " / ".join(n for n in names if n)
    m = SHOW_DATE.search(joined)
    if m:
        cues.append(Cue("show_date_name", m.group(0), 1.5, f"named like a live show (artist and date: {m.group(0)})"))
    m = DISC_TRACK.search(path.stem)
    if m:
        cues.append(Cue("disc_track", m.group(0), 0.5, f"numbered by disc/set and track ({m.group(0)}), as shows are"))
    m = FORMAT_TAG.search(joined)
    if m:
        cues.append(Cue("trader_format", m.group(0), 0.5, f"tagged {m.group(0)}, as traded live recordings are"))
    for kind, rx in NAME_SOURCES.items():
        m = rx.search(joined)
        if m:
            cues.append(Cue(f"source_{kind}", kind, 2.0 if kind != "aud" else 2.5,
                            f"the name says it is {_KIND_WORDS[kind]} ({m.group(0)})"))
    return cues


_KIND_WORDS = {"aud": "an audience recording", "sbd": "a soundboard recording",
               "matrix": "a matrix (soundboard mixed with audience)"}


def _text_cues(sidecar_texts: dict[str, str]) -> list[Cue]:
    cues: list[Cue] = []
    seen: set[str] = set()
    for fname, text in sorted(sidecar_texts.items()):
        for cue in _file_cues(fname, text[: 64 * 1024]):
            if cue.name not in seen:  # the first file to give a cue of a kind wins
                seen.add(cue.name)
                cues.append(cue)
    return cues


# the files of an album folder share their lineage file, and the regexes over 64 KiB of
# text cost a millisecond or more: each text is read for cues once per analysis process
@lru_cache(maxsize=64)
def _file_cues(fname: str, text: str) -> tuple[Cue, ...]:
    cues: list[Cue] = []
    seen: set[str] = set()

    def add(cue: Cue) -> None:
        if cue.name not in seen:
            seen.add(cue.name)
            cues.append(cue)

    source_lines = SOURCE_LINE.findall(text)
    lineage = LINEAGE.search(text) is not None
    for line in source_lines:
        for kind in ("matrix", "sbd", "aud"):  # "matrix of SBD + AUD" is a matrix
            if TEXT_SOURCES[kind].search(line):
                add(Cue(f"source_{kind}", kind, 2.0 if kind != "aud" else 2.5,
                        f"{fname} gives the source as {_KIND_WORDS[kind]}: \"{line.strip()[:80]}\""))
                break
    if lineage:
        add(Cue("lineage", fname, 1.5,
                f"{fname} has a lineage (the chain from recorder to file), as traded shows do"))
    if TAPER.search(text) or (RECORDED_BY.search(text) and (lineage or source_lines)):
        add(Cue("taper", fname, 1.0, f"{fname} names who taped the show"))
    m = MICS.search(text)
    if m:
        add(Cue("taper_mics", m.group(0), 1.0, f"{fname} lists recording microphones ({m.group(0)})"))
    m = RECORDERS.search(text)
    if m and (m.group(0).lower() not in ("d8", "dat") or lineage):
        add(Cue("field_recorder", m.group(0), 0.8, f"{fname} lists a field recorder ({m.group(0)})"))
    if not source_lines and (lineage or seen & {"taper", "taper_mics", "field_recorder"} or TEXT_DATE.search(text)
                             or DISC_TRACK.search(text) or SHOW_DATE.search(fname)):
        # a bare "SBD" or "AUD" tag (no Source: line) in a text that reads like a show's
        # info file (a date, a track list, a lineage, gear): in other text (an artist's
        # bio beside the albums, a film's name in a note) the word says nothing of a tape
        for kind in ("matrix", "sbd", "aud"):
            if NAME_SOURCES[kind].search(text):
                add(Cue(f"source_{kind}", kind, 1.5, f"{fname} calls it {_KIND_WORDS[kind]}"))
                break
    return tuple(cues)


def taper_cues(path: Path, sidecar_texts: dict[str, str]) -> list[Cue]:
    """Cues from the file's name, its folders' names and the text files beside it.

    `sidecar_texts`: file name -> first 64 KiB of text of the .txt/.md/.nfo files in
    the audio file's folder and its parent (reading them is the caller's job).
    """
    path = Path(path)
    by_name: dict[str, Cue] = {}
    for cue in _name_cues(path) + _text_cues(sidecar_texts):
        # one cue per kind: a lineage file's word counts over a name's, the first one wins
        if cue.name not in by_name or cue.weight > by_name[cue.name].weight:
            by_name[cue.name] = cue
    return list(by_name.values())


def source_kind(cues: Iterable[Cue]) -> str | None:
    """"aud", "sbd" or "matrix" where the names or lineage say so, else None.

    A matrix (board mixed with audience mics) wins over both; between AUD and SBD
    the stronger statement wins, and microphone lists point to AUD.
    """
    score = {"aud": 0.0, "sbd": 0.0, "matrix": 0.0}
    for c in cues:
        if c.name.startswith("source_") and c.name[7:] in score:
            score[c.name[7:]] += c.weight
        elif c.name == "taper_mics":
            score["aud"] += 0.5
    if score["matrix"] > 0:
        return "matrix"
    if score["aud"] == score["sbd"] == 0:
        return None
    return "aud" if score["aud"] > score["sbd"] else "sbd"
