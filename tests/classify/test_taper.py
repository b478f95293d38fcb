"""Live-show context from names and lineage files, as tapers and traders write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightowl.classify.taper import source_kind, taper_cues

LINEAGE_AUD = """Phish
December 31, 1997
Madison Square Garden, New York, NY

Source: AUD Schoeps MK4 (DINa, ORTF) > Lunatec V2 > Sony PCM-M10 (24/48)
Lineage: SD card > Audacity 2.0 > xACT 2.5 (FLAC 16, level 8)
Taper: J. Smith
Transfer: K. Jones

d1t01 Set I opener
"""

LINEAGE_SBD = """Grateful Dead
1977-05-08 Barton Hall, Cornell University

Source: SBD > Reels > DAT > CD
Lineage: CD > EAC > SHN
"""


def names(cues) -> set[str]:
    return {c.name for c in cues}


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/music/gd77-05-08.sbd.hicks.4982.sbeok.shnf/gd77-05-08d1t03.shn", "sbd"),
        ("/music/ph1997-12-31.aud.flac16/ph97-12-31s2t05.flac", "aud"),
        ("/music/band2004-07-04.matrix.flac24/band2004-07-04d2t11.flac", "matrix"),
        ("/music/artist1994-05-12/artist1994-05-12t01.flac", None),
    ],
)
def test_etree_names(path: str, kind: str | None) -> None:
    cues = taper_cues(Path(path), {})
    assert "show_date_name" in names(cues)
    assert source_kind(cues) == kind
    assert all(c.weight > 0 and c.text for c in cues)


def test_disc_and_track_numbers() -> None:
    cues = taper_cues(Path("/music/gd77-05-08/gd77-05-08d1t03.flac"), {})
    assert "disc_track" in names(cues)
    cues = taper_cues(Path("/music/ph1997-12-31/ph97-12-31s2t05.flac"), {})
    assert any(c.name == "disc_track" and c.value == "s2t05" for c in cues)


def test_audience_lineage_file() -> None:
    cues = taper_cues(Path("/music/Phish NYE/track01.flac"), {"info.txt": LINEAGE_AUD})
    got = {c.name: c for c in cues}
    assert {"source_aud", "lineage", "taper", "taper_mics", "field_recorder"} <= set(got)
    assert "Schoeps MK4" in str(got["taper_mics"].value)
    assert "PCM-M10" in str(got["field_recorder"].value)
    assert "info.txt" in got["source_aud"].text
    assert source_kind(cues) == "aud"


def test_soundboard_lineage_file() -> None:
    cues = taper_cues(Path("/music/Cornell/01.flac"), {"gd1977-05-08.txt": LINEAGE_SBD})
    assert {"source_sbd", "lineage"} <= names(cues)
    assert source_kind(cues) == "sbd"


@pytest.mark.parametrize(
    "text",
    ["Source: Matrix of SBD + AUD (DPA 4061 > Tascam DR-40)", "Source: MTX (Neumann KM184 + board)"],
)
def test_matrix_lineage(text: str) -> None:
    cues = taper_cues(Path("/music/show/01.flac"), {"notes.md": text})
    assert source_kind(cues) == "matrix"
    assert "taper_mics" in names(cues) or "field_recorder" in names(cues)


def test_recorders_and_mics_are_named() -> None:
    text = "Taped by Pat\nDPA 4061 > Zoom H4n\n"
    cues = taper_cues(Path("/music/show/01.flac"), {"show.nfo": text})
    got = {c.name: str(c.value) for c in cues}
    assert got["taper_mics"] == "DPA 4061" and got["field_recorder"] == "Zoom H4n" and "taper" in got
    assert source_kind(cues) == "aud"  # microphones in a room: an audience recording


def test_studio_album_has_no_cues() -> None:
    text = "Artist - Album (2001)\nRipped with EAC, secure mode\n01. Intro\n02. Audience of One\n"
    cues = taper_cues(Path("/music/Artist - Album (2001) [FLAC]/01 - Intro.flac"), {"rip.log.txt": text})
    assert cues == [] or source_kind(cues) is None
    assert source_kind([]) is None


def test_words_inside_other_words_do_not_count() -> None:
    cues = taper_cues(Path("/music/audio/sbdx/audacity_matrixfoo.flac"), {"a.txt": "loudness matrices laudable"})
    assert source_kind(cues) is None


def test_a_lineage_file_shared_by_an_album_is_read_for_cues_once() -> None:
    from nightowl.classify.taper import _file_cues

    texts = {"info.txt": LINEAGE_AUD + "\n(read once)", "other.nfo": LINEAGE_SBD}
    first = taper_cues(Path("/music/Phish NYE/track01.flac"), texts)
    hits = _file_cues.cache_info().hits
    second = taper_cues(Path("/music/Phish NYE/track02.flac"), texts)
    assert _file_cues.cache_info().hits == hits + 2
    # the same cues for every track; and where two files give a kind, the first file's wins
    assert [(c.name, c.text) for c in first] == [(c.name, c.text) for c in second]
    assert source_kind(first) == "aud"
    assert {c.name: c.value for c in first}["lineage"] == "info.txt"


def test_recorded_by_in_album_credits_names_no_taper() -> None:
    credits = "Guitars: A. Person\nRecorded by B. Engineer at Studio C\nMixed by D. Mixer\n"
    assert "taper" not in names(taper_cues(Path("/music/Album/01.flac"), {"credits.txt": credits}))
    tape = "Source: AUD\nRecorded by B. Taper\nLineage: DAT > CD > EAC > flac\n"
    assert "taper" in names(taper_cues(Path("/music/show/01.flac"), {"info.txt": tape}))


def test_a_bare_source_word_counts_only_in_a_shows_info_file() -> None:
    """An artist's bio in the folder above the albums names a film and a sound engineer:
    no tape there. A show's info file with a date and a bare "SBD" is a soundboard tape."""
    bio = "The Owls\nFormed in 1994. Their 1999 single was heard in The Matrix; the SBD-7 synth came later.\n"
    cues = taper_cues(Path("/music/The Owls/Night Songs/01.flac"), {"bio.txt": bio})
    assert source_kind(cues) is None and cues == []
    info = "The Owls\n1997-12-31\nOak Ballroom\nSBD\n"
    assert source_kind(taper_cues(Path("/music/show/01.flac"), {"info.txt": info})) == "sbd"
    listing = "The Owls live at the Oak Ballroom\nmatrix\nd1t01 Intro\nd1t02 Night Song\n"
    assert source_kind(taper_cues(Path("/music/show/01.flac"), {"info.txt": listing})) == "matrix"
    # named like a show itself (owls1997-12-31.txt): its bare word counts
    assert source_kind(taper_cues(Path("/music/show/01.flac"), {"owls1997-12-31.txt": "AUD\n"})) == "aud"
