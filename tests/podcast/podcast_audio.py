"""Real speech for the podcast tests: pyannote's sample (two people on the phone, 30 s,
16 kHz) with its reference turns (RTTM) and transcript (STM)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.find_spec("pyannote.audio")
assert _spec is not None and _spec.submodule_search_locations
SAMPLE = Path(next(iter(_spec.submodule_search_locations))) / "sample"
SAMPLE_WAV = SAMPLE / "sample.wav"
SAMPLE_RTTM = SAMPLE / "sample.rttm"
SAMPLE_STM = SAMPLE / "sample.stm"
