"""nightowl: checks, restores and cleans the audio dropped into inbox folders."""

__version__ = "0.1.0"
