"""The [classify] settings as the analysis takes them (light: the daemon imports this)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassOptions:
    podcast_min_minutes: float = 1.0
    podcast_threshold: float = 0.5
    concert_threshold: float = 0.5
