from nightowl.podcast.speakers import (
    assign_speakers,
    name_speakers,
    speaker_of,
    speakers_in_order,
)
from nightowl.podcast.turns import Turn, read_rttm, write_rttm
from nightowl.podcast.words import Segment, Word

TURNS = [Turn(0.0, 2.0, "SPEAKER_00"), Turn(2.0, 4.0, "SPEAKER_01"), Turn(6.0, 8.0, "SPEAKER_00")]


def seg(words: list[tuple[float, float, str]]) -> Segment:
    ws = tuple(Word(a, b, " " + t, 0.9) for a, b, t in words)
    return Segment(ws[0].start, ws[-1].end, "".join(w.text for w in ws), ws)


def test_a_word_gets_the_speaker_it_overlaps_most() -> None:
    assert speaker_of(1.5, 2.2, TURNS) == "SPEAKER_00"  # 0.5 s against 0.2 s
    assert speaker_of(1.9, 2.6, TURNS) == "SPEAKER_01"


def test_a_word_in_no_turn_gets_the_nearest_turn() -> None:
    assert speaker_of(4.3, 4.6, TURNS) == "SPEAKER_01"  # 0.45 s after SPEAKER_01's turn
    assert speaker_of(5.5, 5.8, TURNS) == "SPEAKER_00"  # 0.35 s before the next one
    assert speaker_of(1.0, 1.2, []) is None


def test_a_long_turn_started_long_before_still_counts() -> None:
    turns = [Turn(0.0, 100.0, "A"), Turn(50.0, 50.5, "B")]
    assert speaker_of(80.0, 80.4, turns) == "A"


def test_segments_split_where_the_speaker_changes() -> None:
    s = seg([(0.5, 0.9, "hello"), (1.0, 1.4, "there."), (2.3, 2.7, "hi"), (2.8, 3.1, "back")])
    out = assign_speakers([s], TURNS)
    assert [(x.speaker, x.text) for x in out] == [("SPEAKER_00", "hello there."), ("SPEAKER_01", "hi back")]
    assert out[1].start == 2.3 and out[1].end == 3.1
    assert all(w.speaker == x.speaker for x in out for w in x.words)


def test_names_replace_labels_everywhere() -> None:
    out = name_speakers(assign_speakers([seg([(0.5, 0.9, "hello"), (2.5, 2.9, "hi")])], TURNS),
                        {"SPEAKER_00": "Alice"})
    assert [x.speaker for x in out] == ["Alice", "SPEAKER_01"]
    assert out[0].words[0].speaker == "Alice"
    assert speakers_in_order(out) == ["Alice", "SPEAKER_01"]


def test_rttm_round_trip() -> None:
    assert read_rttm(write_rttm(TURNS, "ep1")) == TURNS
