from __future__ import annotations

from pathlib import Path

import pytest

from nightowl.rules import FileFacts, RulesError, decide, load_rules

REPO = Path(__file__).parent.parent


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


def facts(**kw: object) -> FileFacts:
    base = dict(file_class="lossy_music", confidence=0.9, inbox="music", rel_path="a/b.mp3", codec="mp3",
                bitrate=128000, sample_rate=44100, channels=2, duration=200.0, tags={"genre": "Podcast"})
    base.update(kw)
    return FileFacts(**base)  # type: ignore[arg-type]


def test_shipped_rules_route_each_class_to_its_pipeline() -> None:
    rules = load_rules([REPO / "rules" / "default.toml"])
    assert decide(rules, facts(file_class="fake_lossless")).pipeline == "lossless_check"
    assert decide(rules, facts(file_class="lossless_music")).pipeline is None
    assert decide(rules, facts(file_class="lossy_music")).pipeline == "restore"
    assert decide(rules, facts(file_class="podcast")).pipeline == "podcast"
    assert decide(rules, facts(file_class="concert", source="aud")).pipeline == "concert"
    assert decide(rules, facts(file_class="concert")).pipeline == "concert"
    # a soundboard recording is a concert that needs no de-rooming
    assert decide(rules, facts(file_class="concert", source="sbd")).pipeline is None
    assert decide(rules, facts(file_class="unknown")).pipeline is None
    # a music video's soundtrack is lossy music, but the video is left alone
    video = decide(rules, facts(file_class="lossy_music", video=True))
    assert video.pipeline is None and video.rule is not None and video.rule.name == "videos: leave alone"


def test_a_rule_can_ask_for_video_or_for_none(tmp_path: Path) -> None:
    rules = load_rules([_write(tmp_path, """
[[rule]]
name = "filmed shows"
match = { video = true, class = "concert" }
action = { pipeline = "lossless_check" }
[[rule]]
name = "sound only"
match = { video = false }
action = { pipeline = "restore" }
""")])
    assert decide(rules, facts(file_class="concert", video=True)).rule.name == "filmed shows"  # type: ignore[union-attr]
    sound = decide(rules, facts(file_class="concert"))
    assert sound.rule.name == "sound only" and "it holds no video" in sound.reasons[0]  # type: ignore[union-attr]
    assert decide(rules, facts(file_class="podcast", video=True)).rule is None


def test_first_matching_rule_wins_and_each_condition_counts(tmp_path: Path) -> None:
    rules = load_rules([_write(tmp_path, """
[[rule]]
name = "talk"
match = { tags = { genre = "pod*" }, bitrate_max = 96, inbox = "music" }
action = { pipeline = "lossless_check" }
[[rule]]
name = "loud"
match = { codec = ["mp3", "aac"], duration_min = 60, path = "a/**", sample_rate = 44100, confidence_min = 0.5 }
action = { pipeline = "lossless_check", output = "x", when = "now" }
[[rule]]
name = "rest"
action = { pipeline = "none" }
""")])
    assert decide(rules, facts(bitrate=64000)).rule.name == "talk"  # type: ignore[union-attr]
    d = decide(rules, facts())
    assert d.rule.name == "loud"  # type: ignore[union-attr]
    assert "bitrate 128.0 kbps" in d.reasons[0]
    assert decide(rules, facts(rel_path="b/c.mp3")).rule.name == "rest"  # type: ignore[union-attr]
    assert decide(rules, facts(confidence=0.2)).rule.name == "rest"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[rule]]\nname = "x"\nmatch = { colour = "red" }\naction = { pipeline = "none" }', "rule #1 ('x'): match.colour: unknown key"),
        ('[[rule]]\nname = "x"\naction = { pipeline = "transmogrify" }', "unknown pipeline 'transmogrify'"),
        ('[[rule]]\nname = "x"\naction = { pipeline = "lossless_check", params = { speed = 9 } }', "action.params: Value error, speed: unknown key"),
        ('[[rule]]\nname = "x"\nmatch = { class = "jazz" }\naction = { pipeline = "none" }', "unknown class 'jazz'"),
        ('[[rule]]\nname = "x"\naction = { pipeline = "none", output = "../../etc" }', "inside the output root"),
        ('[[rule]]\nname = "x"\naction = { pipeline = "none", when = "later" }', "action.when"),
    ],
)
def test_invalid_rules_name_file_rule_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RulesError) as err:
        load_rules([path])
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_continue_lets_the_next_matching_rule_act_as_well(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text("""
[[rule]]
name = "report"
[rule.match]
class = "fake_lossless"
[rule.action]
pipeline = "lossless_check"
when = "now"
continue = true

[[rule]]
name = "not this one"
[rule.match]
class = "podcast"
[rule.action]
pipeline = "podcast"

[[rule]]
name = "restore"
[rule.match]
class = "fake_lossless"
[rule.action]
pipeline = "restore"

[[rule]]
name = "never reached: restore does not say continue"
[rule.match]
class = "fake_lossless"
[rule.action]
pipeline = "none"
""")
    rules = load_rules([path])
    decision = decide(rules, FileFacts(file_class="fake_lossless", confidence=0.9, inbox="m", rel_path="a.flac"))
    assert [r.name for r in decision.rules] == ["report", "restore"]
    assert decision.pipeline == "lossless_check" and decision.pipelines == ["lossless_check", "restore"]
    other = decide(rules, FileFacts(file_class="podcast", confidence=0.9, inbox="m", rel_path="a.mp3"))
    assert [r.name for r in other.rules] == ["not this one"]
