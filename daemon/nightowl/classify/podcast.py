"""Is this file a podcast episode? Pure decisions from tags, path and speech features.

Every piece of evidence is a `Cue` with a signed weight (positive: towards podcast)
and a sentence in the user's words. The score is a logistic of the summed weights:

* strong metadata (an iTunes podcast flag, a feed address, genre "Podcast") can make
  a podcast on its own, whatever the audio sounds like;
* without it, the audio has to carry the case: mostly talk, long enough, ideally
  several voices taking turns, and no sign that the "speech" is sung;
* short talk (a voice memo under `min_minutes`) and music with a spoken intro are
  not podcasts unless the metadata says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# ID3v1 genre number 186 is "Podcast"; mutagen shows unparsed TCON as "(186)" or "186"
PODCAST_GENRES = re.compile(r"^\s*\(?186\)?\s*$|podcast", re.IGNORECASE)
SPEECH_GENRES = re.compile(r"speech|spoken|talk|audiobook|audio book|news|interview|lecture|comedy|radio",
                           re.IGNORECASE)
GENRE_KEYS = ("tcon", "©gen", "genre", "gnre")
FALSE_VALUES = {"", "0", "false", "no", "pcst(value=0)"}

EPISODE_NAME = re.compile(
    r"(?<![a-z])(?:ep|eps|episode|folge|episodio|aflevering|épisode)[\s._-]*#?\d{1,4}(?!\d)"
    r"|(?<![\w#])#\d{1,4}(?![\da-z])"
    r"|(?<![a-z0-9])s\d{1,2}[\s._-]?e\d{1,3}(?!\d)",
    re.IGNORECASE,
)
DATE_STAMP = re.compile(r"(?<!\d)(?:19|20)\d{2}([-_.]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])(?!\d)")
# what phones and recorders put in front of a date: a dated name, but not a show's
RECORDER_WORDS = {"rec", "img", "vid", "aud", "audio", "voice", "memo", "recording", "new", "track", "dji", "zoom"}
PODCAST_FOLDER = re.compile(r"^(?:my[\s_-]?)?podcasts?$|^podcasts?[\s_-]|[\s_-]podcasts?$", re.IGNORECASE)

BIAS = -2.0  # without evidence a file is not a podcast (about 0.12)
# tags this strong were set on purpose (a podcast app or feed wrote them): the audio's
# evidence against counts half, so a short or music-heavy episode stays an episode
STRONG_METADATA = 3.0
# share of voiced time in held notes (speech_features' pitch_hold_ratio): from the first
# value that is no longer speech-like to where it is surely singing
SUNG_HOLD = (0.12, 0.30)


@dataclass(frozen=True)
class Cue:
    name: str
    value: float | str
    weight: float  # > 0 pushes towards podcast, < 0 away from it
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _truthy(value: str) -> bool:
    # FALSE_VALUES also covers mutagen's text form of a PCST frame, "PCST(value=0)"
    return value.strip().lower() not in FALSE_VALUES


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> tuple[str, str] | None:
    for key in keys:
        value = tags.get(key)
        if value is not None and str(value).strip():
            return key, str(value).strip()
    return None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def podcast_metadata_cues(tags: dict[str, str], path: Path) -> list[Cue]:
    """Evidence from tags (lower-cased keys, as probe gives them) and from the file's name and folders."""
    tags = {str(k).lower(): str(v) for k, v in (tags or {}).items()}
    cues: list[Cue] = []
    genre = _first(tags, GENRE_KEYS)
    if genre:
        key, value = genre
        if PODCAST_GENRES.search(value):
            cues.append(Cue("genre", value, 3.0, f'genre tag ({key}) is "{_short(value)}"'))
        elif SPEECH_GENRES.search(value):
            cues.append(Cue("genre", value, 0.7, f'genre tag ({key}) "{_short(value)}" is a spoken-word genre'))
        else:
            cues.append(Cue("genre", value, -0.7, f'genre tag ({key}) "{_short(value)}" is not a podcast genre'))
    flag = tags.get("pcst")
    if flag is not None and _truthy(flag):
        cues.append(Cue("podcast_flag", flag, 3.0, "tagged as a podcast episode (iTunes podcast flag)"))
    if tags.get("stik", "").strip() == "21":  # MP4 media kind 21 = podcast
        cues.append(Cue("media_kind", "21", 2.5, "MP4 media kind says podcast"))
    feed = _first(tags, ("wfed", "purl"))
    if feed:
        cues.append(Cue("feed_url", feed[1], 2.5, f"carries a podcast feed address ({_short(feed[1])})"))
    guid = _first(tags, ("tgid", "egid"))
    if guid:
        cues.append(Cue("episode_id", guid[1], 2.0, "carries a podcast episode ID"))
    if _first(tags, ("tdes",)):
        cues.append(Cue("description", "tdes", 1.0, "has a podcast episode description"))
    elif _first(tags, ("desc", "ldes")):
        cues.append(Cue("description", "desc", 0.5, "has a description tag"))
    category = _first(tags, ("tcat", "catg"))
    if category:
        cues.append(Cue("category", category[1], 1.0, f'has a podcast category ("{_short(category[1])}")'))
    keywords = _first(tags, ("tkwd", "keyw"))
    if keywords:
        cues.append(Cue("keywords", keywords[1], 0.5, "has podcast keywords"))

    stem = path.stem
    episode = EPISODE_NAME.search(stem)
    if episode:
        cues.append(Cue("episode_name", episode.group(0), 1.0, f'file name looks like an episode ("{episode.group(0)}")'))
    date = DATE_STAMP.search(stem)
    words = {w.lower() for w in re.findall(r"[a-z]{3,}", DATE_STAMP.sub(" ", stem), re.IGNORECASE)}
    if date and words - RECORDER_WORDS:
        cues.append(Cue("dated_name", date.group(0), 0.5, f'file name is a show name with a date ("{date.group(0)}")'))
    folders = [p for p in path.parent.parts if PODCAST_FOLDER.search(p)]
    if folders:
        cues.append(Cue("folder", folders[-1], 1.5, f'it sits in a folder named "{folders[-1]}"'))
    return cues


def _audio_cues(speech: dict[str, float], duration: float, channels: int, min_minutes: float) -> list[Cue]:
    cues: list[Cue] = []
    minutes = duration / 60
    if minutes < min_minutes:
        cues.append(Cue("duration", round(duration, 1), -3.0,
                        f"only {duration:.0f} s long: shorter than a podcast ({min_minutes:g} min), like a voice memo or clip"))
    elif minutes >= 5:
        cues.append(Cue("duration", round(duration, 1), 0.5, f"{minutes:.0f} minutes long, episode length"))
    if not speech:
        return cues
    ratio = float(speech.get("speech_ratio", 0.0))
    if ratio < 0.1:
        cues.append(Cue("speech_ratio", round(ratio, 2), -3.0, "almost no speech"))
    elif ratio < 0.5:
        cues.append(Cue("speech_ratio", round(ratio, 2), -2.0 * (0.5 - ratio) / 0.4 - 1.0,
                        f"speech in only {ratio:.0%} of the audio"))
    else:
        cues.append(Cue("speech_ratio", round(ratio, 2), min(2.0, 2.0 * (ratio - 0.5) / 0.25),
                        f"speech in {ratio:.0%} of the audio"))
    if ratio >= 0.1:
        confidence = float(speech.get("speech_confidence", 1.0))
        patchy = float(speech.get("speech_patchiness", 0.0))
        if confidence < 0.85 or patchy > 0.2:
            cues.append(Cue("speech_confidence", round(confidence, 2), -1.5,
                            "the voice detector is unsure of the 'speech', as it is with singing"))
        hold = float(speech.get("pitch_hold_ratio", 0.0))
        sung = hold >= SUNG_HOLD[0]
        if sung:
            cues.append(Cue("pitch_hold", round(hold, 2), -3.0 * min(1.0, (hold - SUNG_HOLD[0]) / (SUNG_HOLD[1] - SUNG_HOLD[0])),
                            f"the voice holds steady notes ({hold:.0%} of voiced time), like singing"))
        voices = int(speech.get("voices", 0))
        turns = float(speech.get("turn_changes_per_minute", 0.0))
        # a melody jumps between pitches like voices taking turns: only count turns in talk
        if voices >= 2 and turns >= 2.0 and not sung:
            cues.append(Cue("turns", round(turns, 1), 1.5,
                            f"{voices} voices take turns ({turns:.0f} changes per minute of speech)"))
        elif voices == 1:
            cues.append(Cue("turns", 0.0, -0.3, "a single voice"))
        pause = float(speech.get("median_pause_s", 0.0))
        if pause > 1.2:
            cues.append(Cue("pauses", round(pause, 2), -0.7,
                            f"long pauses between phrases ({pause:.1f} s), like someone dictating notes"))
        music = float(speech.get("music_presence", 0.0))
        if music > 0.5 and ratio < 0.5:
            cues.append(Cue("music", round(music, 2), -1.0, "mostly music, with some talk over it"))
    width = float(speech.get("stereo_width_db", -120.0))
    if channels == 1:
        cues.append(Cue("channels", 1, 0.3, "mono, as most spoken-word files are"))
    elif width < -30:
        cues.append(Cue("channels", round(width, 1), 0.2, "both channels carry the same sound (dual mono)"))
    elif width > -15:
        cues.append(Cue("channels", round(width, 1), -0.3, "wide stereo, as music usually is"))
    return cues


def podcast_score(
    speech: dict[str, float], cues: list[Cue], duration: float, channels: int, min_minutes: float = 1.0
) -> tuple[float, list[Cue]]:
    """Probability-like score (0..1) that the file is a podcast, and all the evidence, strongest first.

    `speech` is speech_features() output (may be empty when the audio was not analysed),
    `cues` the metadata cues, `duration` in seconds, `min_minutes` the shortest podcast.
    """
    audio = _audio_cues(speech, duration, channels, min_minutes)
    if sum(c.weight for c in cues) >= STRONG_METADATA:
        audio = [c if c.weight >= 0 else Cue(c.name, c.value, c.weight / 2, c.text + " (the tags outweigh this)")
                 for c in audio]
    evidence = list(cues) + audio
    total = BIAS + sum(c.weight for c in evidence)
    score = 1.0 / (1.0 + math.exp(-total))
    return score, sorted(evidence, key=lambda c: -abs(c.weight))
