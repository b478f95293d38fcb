"""Files that travel with music but hold no audio.

Shows come with their lineage text and checksums (.md5, .ffp, .st5), CD rips with a
rip log and a cue sheet, albums with cover art, booklets and playlists. Intake notes
each such file once, at info level, and leaves it alone: it is not opened as audio,
it is not an error, and it is never a duplicate of another show's identical file.
Decided by the name alone; anything else (a file without an extension, or one
named like audio) is probed as audio, so a text file named `.flac` is still an error.
"""

from __future__ import annotations

from pathlib import Path

_KINDS = {
    "a text file": ("txt", "nfo", "info", "md", "rtf", "text"),
    "a checksum file": ("md5", "ffp", "st5", "sfv", "sha1", "sha256", "par2"),
    "a rip log": ("log", "accurip"),
    "a cue sheet": ("cue",),
    "a playlist": ("m3u", "m3u8", "pls", "xspf", "wpl"),
    "an image": ("jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff", "heic", "ico"),
    "a document": ("pdf", "htm", "html", "doc", "docx", "odt", "epub"),
    "lyrics or subtitles": ("lrc", "srt", "vtt"),
    "an archive": ("zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz"),
    "a torrent file": ("torrent",),
    "a waveform cache": ("sfk", "pkf", "asd", "reapeaks"),  # editors' peak files beside the audio
    "a WavPack correction file": ("wvc",),  # read with its .wv, never on its own
    "a link": ("url", "lnk", "webloc", "desktop"),
    "a settings file": ("ini", "db", "xml", "json", "nzb"),
}
_BY_SUFFIX = {f".{ext}": kind for kind, exts in _KINDS.items() for ext in exts}


def companion_kind(path: Path | str) -> str | None:
    """What kind of non-audio companion `path` is named as ("a cue sheet"), or None."""
    return _BY_SUFFIX.get(Path(path).suffix.lower())
