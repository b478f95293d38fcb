"""Features -> class: the pure decision of what kind of file this is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..audio.probe import LOSSY_CODECS, Probe


@dataclass(frozen=True)
class Classification:
    file_class: str
    confidence: float
    reasons: list[str] = field(default_factory=list)


def decide_class(probe: Probe, check: dict[str, Any]) -> Classification:
    """Class for a probed file given its lossless check (`check["verdict"]`)."""
    verdict = check.get("verdict", "not_applicable")
    conf = float(check.get("confidence") or 0.0)
    if probe.lossless:
        if verdict in ("transcoded", "upsampled"):
            what = "made from a lossy file" if verdict == "transcoded" else "upsampled from a lower rate"
            return Classification("fake_lossless", conf, [f"lossless container ({probe.codec}) but {what}"])
        if verdict == "lossless":
            return Classification("lossless_music", conf, [f"lossless container ({probe.codec}), full band"])
        # no energy up high or no edge: nothing says it is fake, little says it is genuine
        return Classification(
            "lossless_music", min(conf, 0.5), [f"lossless container ({probe.codec}); the check is inconclusive"]
        )
    if probe.codec in LOSSY_CODECS:
        kbps = f" at {probe.bitrate // 1000} kbps" if probe.bitrate else ""
        return Classification("lossy_music", 1.0, [f"lossy codec {probe.codec}{kbps}"])
    return Classification("unknown", 0.0, [f"codec {probe.codec} is neither a known lossless nor lossy codec"])
