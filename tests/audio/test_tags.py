"""Tags and cover art carried from real MP3/M4A/Opus/WMA/FLAC sources to FLAC and WAV outputs."""

from __future__ import annotations

import base64
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.asf import ASF, ASFByteArrayAttribute, ASFUnicodeAttribute
from mutagen.flac import FLAC
from mutagen.flac import Picture as FlacPicture
from mutagen.id3 import (
    APIC,
    COMM,
    ID3,
    TALB,
    TBPM,
    TCMP,
    TCOM,
    TCON,
    TDRC,
    TIT2,
    TPE1,
    TPE2,
    TPOS,
    TRCK,
    TSRC,
    TSSE,
    TXXX,
    UFID,
    USLT,
)
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from nightowl.audio.tags import (
    Picture,
    Tags,
    is_restored,
    read_tags,
    restored_tags,
    write_tags,
)
from PIL import Image

from tests.encoded import encode, png

SR = 44100
MBID = "a1b2c3d4-0000-4000-8000-000000000001"
RECORDING = "a1b2c3d4-0000-4000-8000-000000000002"


def _sine(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([tone, tone], axis=1).astype(np.float32)


def _encode(path: Path, codec: str, fmt: str) -> Path:
    return encode(path, _sine(), SR, codec, fmt)


def _png(width: int = 1, height: int = 1) -> bytes:
    return png(width, height)


def _jpeg(width: int = 4, height: int = 3) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def _output(path: Path) -> Path:
    """A restored output as the pipeline writes it: 24-bit FLAC or WAV, no tags yet."""
    sf.write(str(path), _sine(), SR, subtype="PCM_24")
    return path


def _keys(flac: FLAC) -> set[str]:
    """The field names as written (mutagen's keys() lower-cases them)."""
    return {key for key, _ in flac.tags}


def _carry(src: Path, dest: Path) -> Tags:
    tags = read_tags(src)
    write_tags(dest, tags)
    return tags


@pytest.fixture
def tagged_mp3(tmp_path: Path) -> Path:
    path = _encode(tmp_path / "song.mp3", "libmp3lame", "mp3")
    id3 = ID3(path)  # FFmpeg already wrote a TSSE "Lavf..." frame
    id3.add(TIT2(encoding=3, text="Night Song"))
    id3.add(TPE1(encoding=3, text=["Owl", "Friend"]))
    id3.add(TALB(encoding=3, text="Dark Hours"))
    id3.add(TPE2(encoding=3, text="Owl"))
    id3.add(TDRC(encoding=3, text="2019-10-31"))
    id3.add(TCON(encoding=3, text="(17)"))  # an ID3v1 genre number: Rock
    id3.add(TRCK(encoding=3, text="3/12"))
    id3.add(TPOS(encoding=3, text="1/2"))
    id3.add(TCOM(encoding=3, text="Composer\x00"))
    id3.add(COMM(encoding=3, lang="eng", desc="", text="ripped from tape"))
    id3.add(COMM(encoding=3, lang="eng", desc="iTunNORM", text=" 00000123 00000456"))
    id3.add(USLT(encoding=3, lang="eng", desc="", text="hoo hoo"))
    id3.add(TSRC(encoding=3, text="GBAAA1900001"))
    id3.add(TBPM(encoding=3, text="96"))
    id3.add(TCMP(encoding=3, text="1"))
    id3.add(TSSE(encoding=3, text="LAME 3.100 -V2"))
    id3.add(TXXX(encoding=3, desc="MusicBrainz Album Id", text=MBID))
    id3.add(TXXX(encoding=3, desc="replaygain_track_gain", text="-7.1 dB"))
    id3.add(TXXX(encoding=3, desc="iTunSMPB", text=" 00000000 00000210 000007A4"))
    id3.add(TXXX(encoding=3, desc="CATALOGNUMBER", text="OWL-001"))
    id3.add(TXXX(encoding=3, desc="EMPTY", text=""))
    id3.add(UFID(owner="http://musicbrainz.org", data=RECORDING.encode()))
    id3.add(APIC(encoding=3, mime="image/jpg", type=3, desc="front", data=_png(2, 2)))
    id3.add(APIC(encoding=3, mime="image/png", type=4, desc="back", data=_png()))
    id3.save(path)
    return path


def test_mp3_id3_frames_become_vorbis_comments_in_flac(tagged_mp3: Path, tmp_path: Path) -> None:
    out = _output(tmp_path / "out.flac")
    _carry(tagged_mp3, out)

    flac = FLAC(out)
    assert flac["TITLE"] == ["Night Song"]
    assert flac["ARTIST"] == ["Owl", "Friend"]
    assert flac["ALBUM"] == ["Dark Hours"]
    assert flac["ALBUMARTIST"] == ["Owl"]
    assert flac["DATE"] == ["2019-10-31"]
    assert flac["GENRE"] == ["Rock"]
    assert (flac["TRACKNUMBER"], flac["TRACKTOTAL"]) == (["3"], ["12"])
    assert (flac["DISCNUMBER"], flac["DISCTOTAL"]) == (["1"], ["2"])
    assert flac["COMPOSER"] == ["Composer"]  # NUL stripped
    assert flac["COMMENT"] == ["ripped from tape"]
    assert flac["LYRICS"] == ["hoo hoo"]
    assert flac["ISRC"] == ["GBAAA1900001"]
    assert flac["BPM"] == ["96"]
    assert flac["COMPILATION"] == ["1"]
    assert flac["MUSICBRAINZ_ALBUMID"] == [MBID]
    assert flac["MUSICBRAINZ_TRACKID"] == [RECORDING]
    assert flac["CATALOGNUMBER"] == ["OWL-001"]


def test_a_flac_output_reads_back_as_the_tags_written(tagged_mp3: Path, tmp_path: Path) -> None:
    out = _output(tmp_path / "out.flac")

    tags = _carry(tagged_mp3, out)

    assert read_tags(out) == tags


def test_mp3_encoder_gapless_and_replaygain_data_are_not_carried(tagged_mp3: Path, tmp_path: Path) -> None:
    out = _output(tmp_path / "out.flac")
    _carry(tagged_mp3, out)

    keys = _keys(FLAC(out))
    assert not keys & {"ENCODER", "ENCODER SETTINGS", "ITUNSMPB", "ITUNNORM", "EMPTY"}
    assert not [k for k in keys if k.startswith("REPLAYGAIN_")]


def test_mp3_pictures_keep_bytes_type_and_description(tagged_mp3: Path, tmp_path: Path) -> None:
    out = _output(tmp_path / "out.flac")
    _carry(tagged_mp3, out)

    pictures = FLAC(out).pictures
    assert [(p.type, p.mime, p.desc) for p in pictures] == [(3, "image/png", "front"), (4, "image/png", "back")]
    assert pictures[0].data == _png(2, 2)  # mime corrected from the bytes: the tag said image/jpg
    assert (pictures[0].width, pictures[0].height, pictures[0].depth) == (2, 2, 24)
    assert pictures[1].data == _png()


def test_m4a_atoms_and_cover_carry_to_flac(tmp_path: Path) -> None:
    src = _encode(tmp_path / "song.m4a", "aac", "ipod")
    mp4 = MP4(src)  # FFmpeg already wrote ©too "Lavf..."
    mp4["\xa9nam"] = ["Night Song"]
    mp4["\xa9ART"] = ["Owl"]
    mp4["\xa9alb"] = ["Dark Hours"]
    mp4["aART"] = ["Owl"]
    mp4["\xa9day"] = ["2019"]
    mp4["\xa9gen"] = ["Ambient"]
    mp4["trkn"] = [(3, 12)]
    mp4["disk"] = [(1, 0)]
    mp4["\xa9wrt"] = ["Composer"]
    mp4["\xa9cmt"] = ["ripped"]
    mp4["tmpo"] = [96]
    mp4["cpil"] = True
    mp4["----:com.apple.iTunes:MusicBrainz Album Id"] = [MP4FreeForm(MBID.encode())]
    mp4["----:com.apple.iTunes:MusicBrainz Album Type"] = [MP4FreeForm(b"album")]
    mp4["----:com.apple.iTunes:iTunSMPB"] = [MP4FreeForm(b" 00000000 00000840 0000026C")]
    mp4["----:com.apple.iTunes:replaygain_album_gain"] = [MP4FreeForm(b"-6.0 dB")]
    mp4["covr"] = [MP4Cover(_jpeg(), imageformat=MP4Cover.FORMAT_JPEG)]
    mp4.save()
    out = _output(tmp_path / "out.flac")

    _carry(src, out)

    flac = FLAC(out)
    assert flac["TITLE"] == ["Night Song"]
    assert (flac["ARTIST"], flac["ALBUM"], flac["ALBUMARTIST"]) == (["Owl"], ["Dark Hours"], ["Owl"])
    assert (flac["DATE"], flac["GENRE"]) == (["2019"], ["Ambient"])
    assert (flac["TRACKNUMBER"], flac["TRACKTOTAL"], flac["DISCNUMBER"]) == (["3"], ["12"], ["1"])
    assert "DISCTOTAL" not in flac  # 0 means unknown
    assert (flac["COMPOSER"], flac["COMMENT"], flac["BPM"]) == (["Composer"], ["ripped"], ["96"])
    assert flac["COMPILATION"] == ["1"]
    assert flac["MUSICBRAINZ_ALBUMID"] == [MBID]
    assert flac["RELEASETYPE"] == ["album"]
    keys = _keys(flac)
    assert not keys & {"ITUNSMPB", "REPLAYGAIN_ALBUM_GAIN", "ENCODER"}
    [picture] = flac.pictures
    assert (picture.data, picture.mime, picture.type) == (_jpeg(), "image/jpeg", 3)
    assert (picture.width, picture.height) == (4, 3)


def test_opus_vorbis_comments_and_block_picture_carry_to_flac(tmp_path: Path) -> None:
    src = _encode(tmp_path / "song.opus", "libopus", "ogg")
    block = FlacPicture()
    block.type, block.mime, block.desc, block.data = 3, "image/png", "cover", _png()
    opus = OggOpus(src)  # FFmpeg already wrote ENCODER=Lavf...
    opus["TITLE"] = ["Night Song"]
    opus["artist"] = ["Owl"]  # Vorbis keys are case-insensitive
    opus["ALBUM"] = ["Dark Hours"]
    opus["TRACKNUMBER"] = ["3/12"]
    opus["DATE"] = ["2019"]
    opus["GENRE"] = ["Ambient"]
    opus["R128_TRACK_GAIN"] = ["-1234"]
    opus["REPLAYGAIN_TRACK_PEAK"] = ["0.99"]
    opus["METADATA_BLOCK_PICTURE"] = [base64.b64encode(block.write()).decode("ascii")]
    opus.save()
    out = _output(tmp_path / "out.flac")

    _carry(src, out)

    flac = FLAC(out)
    assert (flac["TITLE"], flac["ARTIST"], flac["ALBUM"]) == (["Night Song"], ["Owl"], ["Dark Hours"])
    assert (flac["TRACKNUMBER"], flac["TRACKTOTAL"]) == (["3"], ["12"])
    assert (flac["DATE"], flac["GENRE"]) == (["2019"], ["Ambient"])
    assert not _keys(flac) & {"ENCODER", "R128_TRACK_GAIN", "REPLAYGAIN_TRACK_PEAK",
                                         "METADATA_BLOCK_PICTURE"}
    [picture] = flac.pictures
    assert (picture.data, picture.mime, picture.type, picture.desc) == (_png(), "image/png", 3, "cover")


def test_ogg_vorbis_legacy_coverart_and_total_aliases(tmp_path: Path) -> None:
    src = tmp_path / "song.ogg"
    sf.write(str(src), _sine(), SR, format="OGG", subtype="VORBIS")
    ogg = OggVorbis(src)
    ogg["TITLE"] = ["Night Song"]
    ogg["TRACKNUMBER"] = ["3"]
    ogg["TOTALTRACKS"] = ["12"]
    ogg["COVERART"] = [base64.b64encode(_png()).decode("ascii")]
    ogg["COVERARTMIME"] = ["image/png"]
    ogg.save()

    tags = read_tags(src)

    assert tags.fields["TITLE"] == ["Night Song"]
    assert (tags.fields["TRACKNUMBER"], tags.fields["TRACKTOTAL"]) == (["3"], ["12"])
    assert "COVERARTMIME" not in tags.fields
    assert tags.pictures == [Picture(_png(), "image/png", width=1, height=1, depth=24)]


def test_wma_attributes_and_picture_carry_to_flac(tmp_path: Path) -> None:
    src = _encode(tmp_path / "song.wma", "wmav2", "asf")
    blob = (struct.pack("<BI", 3, len(_png())) + "image/png\x00".encode("utf-16-le")
            + "cover\x00".encode("utf-16-le") + _png())
    asf = ASF(src)
    asf["Title"] = ["Night Song"]
    asf["Author"] = ["Owl"]
    asf["WM/AlbumTitle"] = [ASFUnicodeAttribute("Dark Hours")]
    asf["WM/Year"] = [ASFUnicodeAttribute("2019")]
    asf["WM/Genre"] = [ASFUnicodeAttribute("Ambient")]
    asf["WM/TrackNumber"] = [ASFUnicodeAttribute("3")]
    asf["WM/AlbumArtist"] = [ASFUnicodeAttribute("Owl")]
    asf["WM/EncodingSettings"] = [ASFUnicodeAttribute("Lavc wmav2")]
    asf["MusicBrainz/Album Id"] = [ASFUnicodeAttribute(MBID)]
    asf["WM/Picture"] = [ASFByteArrayAttribute(blob)]
    asf.save()
    out = _output(tmp_path / "out.flac")

    _carry(src, out)

    flac = FLAC(out)
    assert (flac["TITLE"], flac["ARTIST"], flac["ALBUM"]) == (["Night Song"], ["Owl"], ["Dark Hours"])
    assert (flac["DATE"], flac["GENRE"], flac["TRACKNUMBER"]) == (["2019"], ["Ambient"], ["3"])
    assert (flac["ALBUMARTIST"], flac["MUSICBRAINZ_ALBUMID"]) == (["Owl"], [MBID])
    assert not [k for k in _keys(flac) if "ENCODING" in k]
    [picture] = flac.pictures
    assert (picture.data, picture.mime, picture.type, picture.desc) == (_png(), "image/png", 3, "cover")


def test_wav_output_gets_an_id3v24_chunk_that_reads_back(tagged_mp3: Path, tmp_path: Path) -> None:
    tags = read_tags(tagged_mp3)
    tags.fields["DATE"] = ["2019-10-31", "autumn 2019"]  # not an ID3 timestamp: kept in TXXX:DATE
    out = _output(tmp_path / "out.wav")

    write_tags(out, tags)

    wav = WAVE(out)
    assert wav.tags.version[:2] == (2, 4)
    assert wav.tags["TIT2"].text == ["Night Song"]
    assert wav.tags["TRCK"].text == ["3/12"]
    assert wav.tags["UFID:http://musicbrainz.org"].data == RECORDING.encode()
    assert [f.desc for f in wav.tags.getall("APIC")] == ["front", "back"]
    assert read_tags(out) == tags
    assert sf.info(str(out)).frames == SR  # the audio is untouched


def test_pictures_with_the_same_description_all_reach_a_wav(tmp_path: Path) -> None:
    tags = Tags(pictures=[Picture(_png(), "image/png"), Picture(_png(2, 2), "image/png", type=4)])
    out = _output(tmp_path / "out.wav")

    write_tags(out, tags)

    assert [(p.type, p.data) for p in read_tags(out).pictures] == [(3, _png()), (4, _png(2, 2))]


def test_write_tags_replaces_what_the_output_had(tmp_path: Path) -> None:
    out = _output(tmp_path / "out.flac")
    write_tags(out, Tags(fields={"TITLE": ["old"], "REPLAYGAIN_TRACK_GAIN": ["-3 dB"]},
                         pictures=[Picture(_png(), "image/png")]))

    write_tags(out, Tags(fields={"ARTIST": ["Owl"]}))

    flac = FLAC(out)
    assert list(flac.tags) == [("ARTIST", "Owl")]
    assert flac.pictures == []


def test_write_tags_strips_nuls_and_skips_empty_values(tmp_path: Path) -> None:
    out = _output(tmp_path / "out.flac")

    write_tags(out, Tags(fields={"title": ["Night\x00 Song", "", "  "], "ARTIST": [""], "BAD=KEY": ["x"]}))

    assert list(FLAC(out).tags) == [("TITLE", "Night Song"), ("BADKEY", "x")]


def test_write_tags_refuses_other_containers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=".flac, .wav, .mp3 or .opus"):
        write_tags(tmp_path / "out.m4a", Tags())


@pytest.mark.parametrize("kind", ["mp3", "opus"])
def test_lossy_copies_carry_fields_and_cover(tmp_path: Path, kind: str) -> None:
    from nightowl.audio.encode import encode as encode_lossy
    from nightowl.audio.tags import Picture

    dest = tmp_path / f"copy.{kind}"
    tone = (0.1 * np.sin(np.arange(44100) * 0.05)).astype(np.float32)
    encode_lossy(np.stack([tone, tone], axis=1), 44100, dest, kind)
    cover = Picture(data=png(4, 4), mime="image/png")
    write_tags(dest, Tags(fields={"TITLE": ["Episode 3"], "ARTIST": ["Night Radio"], "DATE": ["2024-05-01"]},
                          pictures=[cover]))
    back = read_tags(dest)
    assert back.fields["TITLE"] == ["Episode 3"] and back.fields["ARTIST"] == ["Night Radio"]
    assert back.fields["DATE"] == ["2024-05-01"]
    assert [p.data for p in back.pictures] == [cover.data]


def test_a_file_without_tags_gives_empty_tags(tmp_path: Path) -> None:
    src = _output(tmp_path / "bare.flac")

    assert read_tags(src) == Tags()


def test_a_file_that_is_not_audio_gives_empty_tags(tmp_path: Path) -> None:
    src = tmp_path / "notes.mp3"
    src.write_bytes(b"shopping list: milk, eggs\n" * 100)

    assert read_tags(src) == Tags()
    assert not is_restored(src)


def test_restored_tags_add_the_mark_without_changing_the_original() -> None:
    tags = Tags(fields={"TITLE": ["Night Song"], "NIGHTOWL_NOTE": ["an older note"]})

    marked = restored_tags(tags, engine="audiosr", version="0.0.7", when="2025-01-02T03:04:05+00:00",
                           note="Frequencies above 16 kHz are a plausible synthesis, not recovered data.")

    assert marked.fields["NIGHTOWL_RESTORED"] == ["2025-01-02T03:04:05+00:00"]
    assert marked.fields["NIGHTOWL_ENGINE"] == ["audiosr 0.0.7"]
    assert marked.fields["NIGHTOWL_NOTE"] == [
        "Frequencies above 16 kHz are a plausible synthesis, not recovered data."
    ]
    assert marked.fields["TITLE"] == ["Night Song"]
    assert tags.fields == {"TITLE": ["Night Song"], "NIGHTOWL_NOTE": ["an older note"]}


def test_restored_tags_want_an_iso_time() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        restored_tags(Tags(), engine="audiosr", version="1", when="yesterday", note="")


@pytest.mark.parametrize("name", ["out.flac", "out.wav"])
def test_is_restored_reads_the_mark_from_outputs(tmp_path: Path, name: str) -> None:
    out = _output(tmp_path / name)
    assert not is_restored(out)

    write_tags(out, restored_tags(Tags(fields={"TITLE": ["x"]}), engine="audiosr", version="1",
                                  when="2025-01-02T03:04:05", note="Synthesised highs."))

    assert is_restored(out)
    assert read_tags(out).fields["NIGHTOWL_NOTE"] == ["Synthesised highs."]
    assert not is_restored(tmp_path / "missing.flac")
