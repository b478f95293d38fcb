"""Carry tags and cover art from a source file (MP3, M4A, Opus, Ogg Vorbis, FLAC, WAV, WMA)
to a restored FLAC or WAV output, in Vorbis-comment terms, dropping what describes the old audio."""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import mutagen
from mutagen import id3
from mutagen._vorbis import VCommentDict  # the base of every Vorbis-comment flavour
from mutagen.asf import ASFTags
from mutagen.flac import FLAC
from mutagen.flac import Picture as FlacPicture
from mutagen.mp4 import MP4Cover, MP4Tags
from mutagen.wave import WAVE

FRONT_COVER = 3
MUSICBRAINZ_UFID_OWNER = "http://musicbrainz.org"

# ID3 text frames carried as they are. Left out on purpose: TSSE (encoder settings),
# TENC (who encoded the old file), TLEN (length of the old audio), TFLT (file type).
ID3_FIELDS = {
    "TIT1": "GROUPING", "TIT2": "TITLE", "TIT3": "SUBTITLE", "TALB": "ALBUM",
    "TPE1": "ARTIST", "TPE2": "ALBUMARTIST", "TPE3": "CONDUCTOR", "TPE4": "REMIXER",
    "TDRC": "DATE", "TDOR": "ORIGINALDATE", "TCON": "GENRE",
    "TRCK": "TRACKNUMBER", "TPOS": "DISCNUMBER", "TCOM": "COMPOSER", "TEXT": "LYRICIST",
    "TSRC": "ISRC", "TBPM": "BPM", "TCMP": "COMPILATION", "TPUB": "LABEL", "TCOP": "COPYRIGHT",
    "TLAN": "LANGUAGE", "TKEY": "KEY", "TMOO": "MOOD", "TMED": "MEDIA", "TSST": "DISCSUBTITLE",
    "TSOP": "ARTISTSORT", "TSO2": "ALBUMARTISTSORT", "TSOA": "ALBUMSORT",
    "TSOT": "TITLESORT", "TSOC": "COMPOSERSORT",
}

# MP4 text atoms; ©too (encoding tool) and ©enc (encoded by) are left out on purpose.
MP4_FIELDS = {
    "\xa9nam": "TITLE", "\xa9ART": "ARTIST", "\xa9alb": "ALBUM", "aART": "ALBUMARTIST",
    "\xa9day": "DATE", "\xa9gen": "GENRE", "\xa9wrt": "COMPOSER", "\xa9cmt": "COMMENT",
    "\xa9lyr": "LYRICS", "\xa9grp": "GROUPING", "cprt": "COPYRIGHT",
    "soar": "ARTISTSORT", "soaa": "ALBUMARTISTSORT", "soal": "ALBUMSORT",
    "sonm": "TITLESORT", "soco": "COMPOSERSORT",
}

# ASF attributes; WM/EncodingSettings, WM/ToolName and the like are left out on purpose.
ASF_FIELDS = {
    "Title": "TITLE", "Author": "ARTIST", "WM/AlbumTitle": "ALBUM", "WM/AlbumArtist": "ALBUMARTIST",
    "WM/Year": "DATE", "WM/OriginalReleaseYear": "ORIGINALDATE", "WM/Genre": "GENRE",
    "WM/TrackNumber": "TRACKNUMBER", "WM/PartOfSet": "DISCNUMBER", "WM/Composer": "COMPOSER",
    "Description": "COMMENT", "WM/Lyrics": "LYRICS", "WM/ISRC": "ISRC", "WM/BeatsPerMinute": "BPM",
    "WM/IsCompilation": "COMPILATION", "WM/Conductor": "CONDUCTOR", "WM/Writer": "LYRICIST",
    "WM/Publisher": "LABEL", "Copyright": "COPYRIGHT", "WM/ContentGroupDescription": "GROUPING",
    "WM/SubTitle": "SUBTITLE", "WM/SetSubTitle": "DISCSUBTITLE", "WM/Mood": "MOOD",
    "WM/Language": "LANGUAGE", "WM/InitialKey": "KEY", "WM/Barcode": "BARCODE",
    "WM/CatalogNo": "CATALOGNUMBER", "WM/ArtistSortOrder": "ARTISTSORT",
    "WM/AlbumArtistSortOrder": "ALBUMARTISTSORT", "WM/AlbumSortOrder": "ALBUMSORT",
    "WM/TitleSortOrder": "TITLESORT", "WM/ComposerSortOrder": "COMPOSERSORT",
}
ASF_FREEFORM_PREFIXES = ("MusicBrainz/", "MusicIP/", "Acoustid/", "replaygain_")

# Picard's names for the free-text fields (ID3 TXXX, MP4 ----, ASF with "/" for " ")
FREEFORM_NAMES = {
    "MusicBrainz Artist Id": "MUSICBRAINZ_ARTISTID",
    "MusicBrainz Album Id": "MUSICBRAINZ_ALBUMID",
    "MusicBrainz Album Artist Id": "MUSICBRAINZ_ALBUMARTISTID",
    "MusicBrainz Release Group Id": "MUSICBRAINZ_RELEASEGROUPID",
    "MusicBrainz Release Track Id": "MUSICBRAINZ_RELEASETRACKID",
    "MusicBrainz Track Id": "MUSICBRAINZ_TRACKID",  # the recording; ID3 keeps it in UFID
    "MusicBrainz Work Id": "MUSICBRAINZ_WORKID",
    "MusicBrainz Disc Id": "MUSICBRAINZ_DISCID",
    "MusicBrainz TRM Id": "MUSICBRAINZ_TRMID",
    "MusicBrainz Original Album Id": "MUSICBRAINZ_ORIGINALALBUMID",
    "MusicBrainz Original Artist Id": "MUSICBRAINZ_ORIGINALARTISTID",
    "MusicBrainz Album Comment": "MUSICBRAINZ_ALBUMCOMMENT",
    "MusicBrainz Album Type": "RELEASETYPE",
    "MusicBrainz Album Status": "RELEASESTATUS",
    "MusicBrainz Album Release Country": "RELEASECOUNTRY",
    "MusicIP PUID": "MUSICIP_PUID",
    "MusicMagic Fingerprint": "MUSICIP_FINGERPRINT",
    "Acoustid Id": "ACOUSTID_ID",
    "Acoustid Fingerprint": "ACOUSTID_FINGERPRINT",
}
_FREEFORM_BY_LOWER = {name.lower(): key for name, key in FREEFORM_NAMES.items()}
_FREEFORM_BY_KEY = {key: name for name, key in FREEFORM_NAMES.items()}

# other spellings of the same Vorbis field
KEY_ALIASES = {
    "TOTALTRACKS": "TRACKTOTAL", "TOTALDISCS": "DISCTOTAL", "UNSYNCEDLYRICS": "LYRICS",
}

# Not carried to a re-encoded file: they describe the old encode, not the music.
# ReplayGain/R128/MP3Gain values were measured on the old audio; a restored file has
# different levels and peaks, so carrying them would make players apply the wrong gain.
DROPPED_KEYS = {
    "ENCODER", "ENCODER_OPTIONS", "ENCODERSETTINGS", "ENCODER SETTINGS", "ENCODING",
    "ENCODEDBY", "ENCODED-BY", "ENCODED_BY", "ENCODING PARAMS",
    "ITUNSMPB", "ITUNNORM", "ITUNPGAP",  # iTunes gapless and volume data of the old audio
    "MAJOR_BRAND", "MINOR_VERSION", "COMPATIBLE_BRANDS",  # FFmpeg's copy of the old MP4 header
    "WAVEFORMATEXTENSIBLE_CHANNEL_MASK",
}
DROPPED_PREFIXES = ("REPLAYGAIN_", "R128_", "MP3GAIN_")

RESTORED = "NIGHTOWL_RESTORED"
ENGINE = "NIGHTOWL_ENGINE"
NOTE = "NIGHTOWL_NOTE"

_POSITION = re.compile(r"^\s*(\d*)\s*/\s*(\d*)\s*$")
# a Vorbis field name is printable ASCII 0x20..0x7D without "="
_BAD_KEY_CHARS = re.compile(r"[^\x20-\x3c\x3e-\x7d]")


@dataclass(frozen=True)
class Picture:
    """An embedded image; `type` is the ID3/FLAC picture type (3 = front cover)."""

    data: bytes
    mime: str
    type: int = FRONT_COVER
    description: str = ""
    width: int | None = None
    height: int | None = None
    depth: int | None = None


@dataclass
class Tags:
    """Tags in Vorbis-comment terms: upper-case keys, each with one or more values."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    pictures: list[Picture] = field(default_factory=list)

    def first(self, key: str) -> str | None:
        values = self.fields.get(key)
        return values[0] if values else None


# --- pictures -------------------------------------------------------------------------------

def _png_info(data: bytes) -> tuple[int, int, int] | None:
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
    return width, height, bits * samples


def _jpeg_info(data: bytes) -> tuple[int, int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        # SOF0..SOF15 carry the frame size; C4, C8 and CC are other segments
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            bits, height, width, components = struct.unpack(">BHHB", data[pos + 4:pos + 10])
            return width, height, bits * components
        pos += 2 + length
    return None


def _sniff(data: bytes) -> tuple[str | None, tuple[int, int, int] | None]:
    """The image's real MIME type and (width, height, bits per pixel), where known."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", _png_info(data)
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", _jpeg_info(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", None
    if data[:2] == b"BM":
        return "image/bmp", None
    return None, None


def _picture(data: bytes, mime: str, kind: int = FRONT_COVER, description: str = "",
             width: int | None = None, height: int | None = None,
             depth: int | None = None) -> Picture | None:
    """A Picture whose MIME type comes from the bytes where they are recognised (tags lie)."""
    if not data:
        return None
    sniffed, info = _sniff(data)
    mime = sniffed or (mime or "").strip().lower() or "application/octet-stream"
    if mime == "image/jpg" or mime == "jpg":
        mime = "image/jpeg"
    elif "/" not in mime:
        mime = "image/" + mime
    if info is not None and not width:
        width, height, depth = info
    return Picture(data=bytes(data), mime=mime, type=kind if 0 <= kind <= 20 else 0,
                   description=description.replace("\x00", ""),
                   width=width or None, height=height or None, depth=depth or None)


def _flac_picture(block: FlacPicture) -> Picture | None:
    return _picture(block.data, block.mime, block.type, block.desc,
                    block.width, block.height, block.depth)


def _utf16z(blob: bytes, pos: int) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string at `pos`, and the position after its terminator."""
    end = pos
    while end + 1 < len(blob) and blob[end:end + 2] != b"\x00\x00":
        end += 2
    return blob[pos:end].decode("utf-16-le", errors="replace"), end + 2


def _asf_picture(blob: bytes) -> Picture | None:
    """WM/Picture: type byte, data size (DWORD), MIME and description (UTF-16 NUL-ended), data."""
    if len(blob) < 9:
        return None
    kind = blob[0]
    (size,) = struct.unpack_from("<I", blob, 1)
    mime, pos = _utf16z(blob, 5)
    description, pos = _utf16z(blob, pos)
    return _picture(blob[pos:pos + size], mime, kind, description)


# --- reading --------------------------------------------------------------------------------

def _freeform_key(name: str) -> str:
    return _FREEFORM_BY_LOWER.get(name.strip().lower(), name.upper())


def _from_id3(tags: id3.ID3, fields: dict[str, list[str]], pictures: list[Picture]) -> None:
    for frame in tags.values():
        fid = frame.FrameID
        if fid == "TCON":
            fields.setdefault("GENRE", []).extend(frame.genres)
        elif fid in ID3_FIELDS:
            fields.setdefault(ID3_FIELDS[fid], []).extend(str(t) for t in frame.text)
        elif fid == "TXXX":
            fields.setdefault(_freeform_key(frame.desc), []).extend(str(t) for t in frame.text)
        elif fid == "COMM" and frame.desc in ("", "ID3v1 Comment"):
            # only the main comment: iTunes hides its own data in COMMs with a description
            fields.setdefault("COMMENT", []).extend(str(t) for t in frame.text)
        elif fid == "USLT":
            fields.setdefault("LYRICS", []).append(frame.text)
        elif fid == "UFID" and frame.owner == MUSICBRAINZ_UFID_OWNER:
            fields.setdefault("MUSICBRAINZ_TRACKID", []).append(frame.data.decode("ascii", "replace"))
        elif fid == "APIC" and frame.mime != "-->":  # "-->" is a link, not an image
            pic = _picture(frame.data, frame.mime, int(frame.type), frame.desc)
            if pic is not None:
                pictures.append(pic)


def _mp4_position(fields: dict[str, list[str]], value: Any, number: str, total: str) -> None:
    if isinstance(value, tuple) and value:
        if value[0]:
            fields.setdefault(number, []).append(str(value[0]))
        if len(value) > 1 and value[1]:
            fields.setdefault(total, []).append(str(value[1]))


def _from_mp4(tags: MP4Tags, fields: dict[str, list[str]], pictures: list[Picture]) -> None:
    for key, values in tags.items():
        if key in MP4_FIELDS:
            fields.setdefault(MP4_FIELDS[key], []).extend(str(v) for v in values)
        elif key == "trkn":
            for value in values:
                _mp4_position(fields, value, "TRACKNUMBER", "TRACKTOTAL")
        elif key == "disk":
            for value in values:
                _mp4_position(fields, value, "DISCNUMBER", "DISCTOTAL")
        elif key == "tmpo":
            fields.setdefault("BPM", []).extend(str(v) for v in values if v)
        elif key == "cpil":
            fields.setdefault("COMPILATION", []).append("1" if values else "0")
        elif key == "covr":
            for cover in values:
                mime = "image/png" if cover.imageformat == MP4Cover.FORMAT_PNG else "image/jpeg"
                pic = _picture(bytes(cover), mime)
                if pic is not None:
                    pictures.append(pic)
        elif key.startswith("----:"):
            name = key.split(":", 2)[-1]
            for value in values:
                try:
                    fields.setdefault(_freeform_key(name), []).append(bytes(value).decode("utf-8"))
                except UnicodeDecodeError:  # binary freeform data is not a tag value
                    continue


def _from_vorbis(tags: VCommentDict, fields: dict[str, list[str]], pictures: list[Picture]) -> None:
    cover_mimes = iter(tags.get("COVERARTMIME", []))  # the n-th goes with the n-th COVERART
    for key, value in tags:
        key = key.upper()
        if key == "METADATA_BLOCK_PICTURE":
            try:
                pic = _flac_picture(FlacPicture(base64.b64decode(value)))
            except (binascii.Error, ValueError, struct.error, mutagen.MutagenError):
                continue
            if pic is not None:
                pictures.append(pic)
        elif key == "COVERART":  # legacy: bare base64 image, its type in COVERARTMIME
            try:
                data = base64.b64decode(value)
            except (binascii.Error, ValueError):
                continue
            pic = _picture(data, next(cover_mimes, ""))
            if pic is not None:
                pictures.append(pic)
        elif key != "COVERARTMIME":
            fields.setdefault(key, []).append(value)


def _asf_text(value: Any) -> str | None:
    raw = getattr(value, "value", value)
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, (bytes, bytearray)):
        return None
    return str(raw)


def _from_asf(tags: ASFTags, fields: dict[str, list[str]], pictures: list[Picture]) -> None:
    for key, values in tags.as_dict().items():
        if key == "WM/Picture":
            for value in values:
                pic = _asf_picture(bytes(value.value))
                if pic is not None:
                    pictures.append(pic)
            continue
        if key in ASF_FIELDS:
            name = ASF_FIELDS[key]
        elif key.startswith(ASF_FREEFORM_PREFIXES):
            name = _freeform_key(key.replace("/", " "))
        else:
            continue
        texts = [t for t in (_asf_text(v) for v in values) if t is not None]
        fields.setdefault(name, []).extend(texts)
    if "TRACKNUMBER" not in fields and "WM/Track" in tags:  # legacy, counted from zero
        text = _asf_text(tags["WM/Track"][0])
        if text is not None and text.isdigit():
            fields["TRACKNUMBER"] = [str(int(text) + 1)]


def _clean_key(key: str) -> str:
    key = _BAD_KEY_CHARS.sub("", key).strip().upper()
    return KEY_ALIASES.get(key, key)


def _sanitize(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """Valid Vorbis keys, no NULs, no blank or repeated values, no keys left empty."""
    clean: dict[str, list[str]] = {}
    for key, values in fields.items():
        name = _clean_key(key)
        if not name:
            continue
        kept = clean.setdefault(name, [])
        for value in values:
            text = str(value).replace("\x00", "")
            if text.strip() and text not in kept:
                kept.append(text)
    return {key: values for key, values in clean.items() if values}


def _split_positions(fields: dict[str, list[str]]) -> None:
    """TRACKNUMBER "3/12" -> TRACKNUMBER 3, TRACKTOTAL 12 (ID3 TRCK, some Vorbis taggers)."""
    for number, total in (("TRACKNUMBER", "TRACKTOTAL"), ("DISCNUMBER", "DISCTOTAL")):
        values = fields.get(number)
        match = _POSITION.match(values[0]) if values else None
        if match is None:
            continue
        if match.group(1):
            fields[number] = [match.group(1)]
        else:
            del fields[number]
        if match.group(2) and int(match.group(2)) > 0 and total not in fields:
            fields[total] = [match.group(2)]


def _carried(key: str) -> bool:
    return key not in DROPPED_KEYS and not key.startswith(DROPPED_PREFIXES)


def read_tags(path: Path) -> Tags:
    """The tags and pictures of an audio file, ready to carry to a re-encoded output.

    A file without tags, or one mutagen cannot parse (not audio), gives empty Tags;
    only a file that cannot be opened raises (OSError).
    """
    with Path(path).open("rb") as fh:
        try:
            handle = mutagen.File(fh)
        except Exception:  # noqa: BLE001 (mutagen raises many types for odd files; tags are optional)
            return Tags()
    if handle is None:
        return Tags()
    fields: dict[str, list[str]] = {}
    pictures: list[Picture] = []
    tags = handle.tags
    if isinstance(tags, id3.ID3):
        _from_id3(tags, fields, pictures)
    elif isinstance(tags, MP4Tags):
        _from_mp4(tags, fields, pictures)
    elif isinstance(tags, VCommentDict):
        _from_vorbis(tags, fields, pictures)
    elif isinstance(tags, ASFTags):
        _from_asf(tags, fields, pictures)
    for block in getattr(handle, "pictures", None) or []:  # FLAC PICTURE blocks
        pic = _flac_picture(block)
        if pic is not None:
            pictures.append(pic)
    clean = _sanitize(fields)
    _split_positions(clean)
    return Tags(fields={k: v for k, v in clean.items() if _carried(k)}, pictures=pictures)


# --- writing --------------------------------------------------------------------------------

def _flac_block(picture: Picture) -> FlacPicture:
    block = FlacPicture()
    block.data = picture.data
    block.mime = picture.mime
    block.type = picture.type
    block.desc = picture.description
    _, info = _sniff(picture.data)
    width, height, depth = info or (0, 0, 0)
    block.width = picture.width or width
    block.height = picture.height or height
    block.depth = picture.depth or depth
    return block


def _write_flac(path: Path, tags: Tags) -> None:
    audio = FLAC(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    audio.clear_pictures()
    for key, values in tags.fields.items():
        audio.tags[key] = values
    for picture in tags.pictures:
        audio.add_picture(_flac_block(picture))
    audio.save(deleteid3=True)


def _position(fields: dict[str, list[str]], number: str, total: str) -> str | None:
    num = fields.get(number, [""])[0]
    tot = fields.get(total, [""])[0]
    if not num and not tot:
        return None
    return f"{num}/{tot}" if tot else num


def _unique(description: str, taken: set[str]) -> str:
    """ID3 keys APIC frames by description, so a second "" would replace the first."""
    candidate, n = description, 1
    while candidate in taken:
        n += 1
        candidate = f"{description} ({n})"
    taken.add(candidate)
    return candidate


def _id3_frames(tags: Tags) -> list[Any]:
    fields = tags.fields
    text_frames = {key: fid for fid, key in ID3_FIELDS.items()}
    frames: list[Any] = []
    for key, values in fields.items():
        if key in ("TRACKNUMBER", "TRACKTOTAL", "DISCNUMBER", "DISCTOTAL"):
            continue
        if key in ("DATE", "ORIGINALDATE"):
            # ID3v2.4 dates must be timestamps; keep any other text in a TXXX of the same name
            stamps = [v for v in values if id3.ID3TimeStamp(v).text]
            others = [v for v in values if not id3.ID3TimeStamp(v).text]
            if stamps:
                frames.append((id3.TDRC if key == "DATE" else id3.TDOR)(encoding=3, text=stamps))
            if others:
                frames.append(id3.TXXX(encoding=3, desc=key, text=others))
        elif key == "GENRE":
            frames.append(id3.TCON(encoding=3, text=values))
        elif key == "COMMENT":
            frames.append(id3.COMM(encoding=3, lang="eng", desc="", text=values))
        elif key == "LYRICS":
            frames.append(id3.USLT(encoding=3, lang="eng", desc="", text="\n\n".join(values)))
        elif key == "MUSICBRAINZ_TRACKID":
            frames.append(id3.UFID(owner=MUSICBRAINZ_UFID_OWNER, data=values[0].encode("ascii", "replace")))
        elif key in text_frames:
            frames.append(id3.Frames[text_frames[key]](encoding=3, text=values))
        else:
            frames.append(id3.TXXX(encoding=3, desc=_FREEFORM_BY_KEY.get(key, key), text=values))
    track = _position(fields, "TRACKNUMBER", "TRACKTOTAL")
    if track:
        frames.append(id3.TRCK(encoding=3, text=[track]))
    disc = _position(fields, "DISCNUMBER", "DISCTOTAL")
    if disc:
        frames.append(id3.TPOS(encoding=3, text=[disc]))
    taken: set[str] = set()
    for picture in tags.pictures:
        frames.append(id3.APIC(encoding=3, mime=picture.mime, type=picture.type,
                           desc=_unique(picture.description, taken), data=picture.data))
    return frames


def _write_wav(path: Path, tags: Tags) -> None:
    audio = WAVE(path)
    if audio.tags is not None:
        audio.tags.clear()
    else:
        audio.add_tags()
    for frame in _id3_frames(tags):
        audio.tags.add(frame)
    audio.save(v2_version=4)


def _write_mp3(path: Path, tags: Tags) -> None:
    audio = id3.ID3()
    for frame in _id3_frames(tags):
        audio.add(frame)
    audio.save(path, v2_version=4)


def _write_opus(path: Path, tags: Tags) -> None:
    from mutagen.oggopus import OggOpus

    audio = OggOpus(path)
    audio.tags.clear()
    for key, values in tags.fields.items():
        audio.tags[key] = values
    if tags.pictures:
        # Ogg has no picture blocks: FLAC's block, base64, in a comment (as the Vorbis spec says)
        audio.tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(_flac_block(p).write()).decode("ascii")
                                                for p in tags.pictures]
    audio.save()


def write_tags(path: Path, tags: Tags) -> None:
    """Replace the tags of a .flac (Vorbis comments + PICTURE blocks), .wav or .mp3 (ID3v2.4),
    or .opus (Vorbis comments with METADATA_BLOCK_PICTURE).

    Values are sanitised (no NULs, no blanks) but not filtered: what the caller passes is
    what the file gets, so fresh ReplayGain values measured on the output can be written.
    """
    path = Path(path)
    clean = Tags(fields=_sanitize(tags.fields), pictures=[p for p in tags.pictures if p.data])
    suffix = path.suffix.lower()
    if suffix == ".flac":
        _write_flac(path, clean)
    elif suffix == ".wav":
        _write_wav(path, clean)
    elif suffix == ".mp3":
        _write_mp3(path, clean)
    elif suffix == ".opus":
        _write_opus(path, clean)
    else:
        raise ValueError(f"{path.name}: tags are written to .flac, .wav, .mp3 or .opus outputs only")


# --- restored outputs -----------------------------------------------------------------------

def restored_tags(tags: Tags, *, engine: str, version: str, when: str, note: str) -> Tags:
    """A copy of `tags` that says the audio was restored: when (ISO 8601), by what, and what
    the listener should know about it. Raises ValueError if `when` is not ISO 8601."""
    try:
        datetime.fromisoformat(when)
    except ValueError as exc:
        raise ValueError(f"restored time {when!r} is not ISO 8601") from exc
    fields = {key: list(values) for key, values in tags.fields.items()}
    fields[RESTORED] = [when]
    fields[ENGINE] = [f"{engine} {version}".strip()]
    if note.strip():
        fields[NOTE] = [note]
    else:
        fields.pop(NOTE, None)  # an older restore's note would describe other audio
    return replace(tags, fields=fields, pictures=list(tags.pictures))


def is_restored(path: Path) -> bool:
    """Whether a file carries nightowl's restored mark (NIGHTOWL_RESTORED); False if it is missing."""
    path = Path(path)
    if not path.is_file():
        return False
    return read_tags(path).first(RESTORED) is not None
