"""Restoring the band lossy codecs removed."""
