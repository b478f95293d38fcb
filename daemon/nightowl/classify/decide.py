"""Features -> class: the pure decision of what kind of file this is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..audio.probe import LOSSY_CODECS, Probe
from .options import ClassOptions

# mostly talk (share of time silero hears speech) but not a podcast: a voice memo, a lecture clip
SPEECH_ONLY = 0.6
SILENT_PEAK = 10 ** (-90 / 20)  # -90 dBFS: digital silence, not dither-level hiss


@dataclass(frozen=True)
class Classification:
    file_class: str
    confidence: float
    reasons: list[str] = field(default_factory=list)


def _lossless_or_fake(probe: Probe, check: dict[str, Any]) -> Classification:
    verdict = check.get("verdict", "not_applicable")
    conf = float(check.get("confidence") or 0.0)
    if verdict in ("transcoded", "upsampled"):
        what = "made from a lossy file" if verdict == "transcoded" else "upsampled from a lower rate"
        return Classification("fake_lossless", conf, [f"lossless container ({probe.codec}) but {what}"])
    if verdict == "lossless":
        return Classification("lossless_music", conf, [f"lossless container ({probe.codec}), full band"])
    # no energy up high or no edge: nothing says it is fake, little says it is genuine
    return Classification("lossless_music", min(conf, 0.5),
                          [f"lossless container ({probe.codec}); the lossless check is inconclusive"])


def decide_class(
    probe: Probe,
    check: dict[str, Any],
    *,
    podcast: float = 0.0,
    concert: float = 0.0,
    speech: dict[str, float] | None = None,
    options: ClassOptions | None = None,
    peak: float = 1.0,
) -> Classification:
    """Class for a probed file from its lossless check and the podcast and concert scores (0..1).

    What a file *is* comes before how it is stored: a podcast or a concert stays
    one in FLAC or MP3. Then a transcode is a fake, whatever it holds. Talk that is
    not a podcast (a voice memo) is not music either: unknown.
    """
    options = options or ClassOptions()
    if peak < SILENT_PEAK:
        return Classification("unknown", 1.0, ["silent: nothing louder than -90 dBFS in the parts heard"])
    if podcast >= options.podcast_threshold and podcast >= concert:
        return Classification("podcast", podcast, [f"podcast score {podcast:.2f}"])
    if concert >= options.concert_threshold:
        return Classification("concert", concert, [f"audience recording score {concert:.2f}"])
    # a transcode is a fake whatever it holds
    if probe.lossless and check.get("verdict") in ("transcoded", "upsampled"):
        return _lossless_or_fake(probe, check)
    speech_ratio = float((speech or {}).get("speech_ratio", 0.0))
    if speech_ratio >= SPEECH_ONLY:
        return Classification("unknown", speech_ratio, [
            f"mostly speech ({speech_ratio:.0%} of the time) but not a podcast (podcast score {podcast:.2f})"])
    if probe.lossless:
        return _lossless_or_fake(probe, check)
    if probe.codec == "wavpack":  # not lossless: hybrid mode without its correction file (probe.py)
        return Classification("lossy_music", 1.0, ["lossy WavPack: hybrid mode without its correction file (.wvc)"])
    if probe.codec in LOSSY_CODECS:
        kbps = f" at {probe.bitrate // 1000} kbps" if probe.bitrate else ""
        return Classification("lossy_music", 1.0, [f"lossy codec {probe.codec}{kbps}"])
    return Classification("unknown", 0.0, [f"codec {probe.codec} is neither a known lossless nor lossy codec"])
