import re

from nightowl.podcast.formats import (
    MAX_CUE_CHARS,
    MAX_CUE_SECONDS,
    cues,
    to_srt,
    to_text,
    to_vtt,
    wrap,
)
from nightowl.podcast.words import Segment, Word


def seg(start: float, text: str, speaker: str | None, step: float = 0.4) -> Segment:
    words = tuple(Word(start + i * step, start + i * step + step * 0.8, " " + t, 0.9, speaker)
                  for i, t in enumerate(text.split()))
    return Segment(words[0].start, words[-1].end, text, words, speaker)


def test_srt_numbering_clock_and_speaker() -> None:
    out = to_srt([seg(1.0, "Hello there.", "Alice"), seg(3661.5, "Hi.", "Bob")])
    blocks = out.strip().split("\n\n")
    assert blocks[0].splitlines()[:2] == ["1", "00:00:01,000 --> 00:00:01,720"]
    assert blocks[0].splitlines()[2] == "Alice: Hello there."
    assert blocks[1].splitlines()[1].startswith("01:01:01,500 --> ")


def test_vtt_has_header_voice_tags_and_escapes() -> None:
    out = to_vtt([seg(0.0, "a <b> & c", "Dr. <X>")])
    assert out.startswith("WEBVTT\n\n")
    assert "00:00:00.000 --> " in out
    assert "<v Dr. &lt;X&gt;>a &lt;b&gt; &amp; c</v>" in out


def test_vtt_without_speakers_has_no_voice_tags() -> None:
    assert "<v" not in to_vtt([seg(0.0, "plain words", None)])


def test_long_speech_is_cut_into_readable_cues() -> None:
    text = " ".join(f"word{i}." if i % 9 == 8 else f"word{i}" for i in range(60))
    out = cues([seg(0.0, text, "A", step=0.3)])
    assert len(out) > 3
    assert all(len(c.text) <= MAX_CUE_CHARS and c.end - c.start <= MAX_CUE_SECONDS + 0.3 for c in out)
    assert " ".join(c.text for c in out) == text  # nothing lost or repeated
    assert all(a.end <= b.start for a, b in zip(out, out[1:]))
    # cut at a sentence end where the second half of the cue has one
    assert sum(c.text.endswith(".") for c in out[:-1]) >= len(out) - 2


def test_a_segment_just_over_one_cue_is_cut_in_two_halves_not_a_stub() -> None:
    """91 characters: filled greedily, the second cue was "and the", 0.3 s on screen."""
    text = "the purpose of this test is to give you an audible sense of the latency between you and the"
    out = cues([seg(4.0, text, None, step=0.25)])
    assert len(out) == 2 and " ".join(c.text for c in out) == text
    assert min(len(c.text) for c in out) >= 35 and min(c.end - c.start for c in out) >= 2.0


def test_a_cut_moves_to_a_sentence_end_or_a_pause() -> None:
    text = "So that was the news for today. Now let us turn to the weather, which has been strange all week long"
    out = cues([seg(0.0, text, "A", step=0.3)])
    assert [c.text for c in out] == ["So that was the news for today.",
                                     "Now let us turn to the weather, which has been strange all week long"]
    words = list(seg(0.0, "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                          "fifteen sixteen seventeen eighteen nineteen twenty twentyone", "A", step=0.3).words)
    paused = [w if i < 6 else Word(w.start + 1.5, w.end + 1.5, w.text, w.probability, w.speaker)
              for i, w in enumerate(words)]
    out = cues([Segment(paused[0].start, paused[-1].end, "", tuple(paused), "A")])
    assert out[0].text == "one two three four five six"  # where the speaker paused


def test_wrap_breaks_near_the_middle() -> None:
    line = "the quick brown fox jumps over the lazy dog and runs far away"
    a, b = wrap(line).split("\n")
    assert abs(len(a) - len(b)) <= 8 and f"{a} {b}" == line
    assert wrap("short") == "short"


def test_text_paragraphs_by_speaker_and_pause() -> None:
    out = to_text([seg(0.0, "One.", "A"), seg(1.0, "Two.", "A"), seg(2.0, "Three.", "B"), seg(9.0, "Four.", "B")])
    paras = out.strip().split("\n\n")
    assert paras == ["[00:00:00] A: One. Two.", "[00:00:02] B: Three.", "[00:00:09] B: Four."]
    assert re.match(r"\[00:00:00\] x", to_text([seg(0.0, "x", None)]))
