"""Intake on real audio the corpus does not use (held out): what class does each file get?

    python bench/held_out.py [--out FILE]

The corpus (bench/corpus.py) takes only the sources its list names; the rest of those
packages, and other packaged music, stay out of it so that the classifier can be
checked on audio nobody tuned it on:

  * genuine lossless renders: every `openttd-openmsx` MIDI file the corpus does not use,
    rendered with fluidsynth through FluidR3 (as the corpus renders) and through the
    `timgm6mb-soundfont` SoundFont, written as 16-bit FLAC (expected: lossless_music,
    and never a `transcoded` verdict);
  * real lossy music as Debian ships it (expected: lossy_music): the other two songs of
    `fretsonfire-songs-muldjord` and the four of `fretsonfire-songs-sectoid` (studio
    metal: the mix and the guitar stem of each), and the soundtracks of `asc-music`,
    `drascula-music`, `warzone2100-music` and `wesnoth-1.16-music`.

Each file goes through `nightowl.classify.analyse.analyse` whole, as intake takes it.
The metal files (the corpus's two songs too) are also read on 30 s windows, 15 s apart,
as the concert features read a short file (three 3 s excerpts, the first and last 5 s):
a live-sounding stretch of a song is what a clip of it would be.
Downloads about 300 MB of packages into bench/.cache on the first run. Prints, per
set, the classes (and the lossless verdicts of the renders) and the files called
something other than expected; writes JSON to bench/results/held_out.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one thread, as the analysis child

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH.parent / "daemon"))

from bench.corpus import CACHE, OPENMSX, fetch_deb, render_midi  # noqa: E402
from nightowl.audio.decode import decode  # noqa: E402
from nightowl.classify.analyse import analyse  # noqa: E402
from nightowl.classify.concert import concert_features, concert_score  # noqa: E402
from nightowl.classify.options import ClassOptions  # noqa: E402

AUDIO = {".ogg", ".mp3", ".flac", ".opus", ".wav"}
# package -> folder with its music, and the files of it the corpus takes (left out here)
PACKAGED = {
    "fretsonfire-songs-muldjord": ("usr/share/games/fretsonfire/data/songs/muldjord", {"chaos_god", "armygeddon"}),
    "fretsonfire-songs-sectoid": ("usr/share/games/fretsonfire/data/songs/sectoid", set()),
    "asc-music": ("usr/share/games/asc/music", set()),
    "drascula-music": ("usr/share/scummvm/drascula/audio", set()),
    "warzone2100-music": ("usr/share/games/warzone2100/music", set()),
    "wesnoth-1.16-music": ("usr/share/games/wesnoth/1.16/data/core/music", set()),
}
SOUNDFONTS = {"fluidr3": None, "timgm6mb": ("timgm6mb-soundfont", "usr/share/sounds/sf2/TimGM6mb.sf2")}


def renders() -> list[Path]:
    """The held-out MIDI files rendered through both SoundFonts, as 16-bit FLAC (cached)."""
    midis = fetch_deb("openttd-openmsx") / "usr/share/games/openttd/baseset/openmsx"
    out = CACHE / "held_out"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, where in SOUNDFONTS.items():
        font = None if where is None else fetch_deb(where[0]) / where[1]
        for midi in sorted(midis.glob("*.mid")):
            if midi.stem in OPENMSX:
                continue
            flac = out / f"{midi.stem}__{name}.flac"
            if not flac.exists():
                sf.write(flac, render_midi(midi, font=font), 44100, subtype="PCM_16")
            paths.append(flac)
    return paths


def packaged(package: str) -> list[Path]:
    folder, used = PACKAGED[package]
    root = fetch_deb(package) / folder
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO
                  and not any(part in used for part in p.relative_to(root).parts))


def live_windows(paths: list[Path], seconds: int = 30, step: int = 15) -> dict:
    """Per file: how many `seconds`-long windows score as a live recording from the audio alone."""
    threshold = ClassOptions().concert_threshold
    per_file = {}
    for p in paths:
        audio, rate = decode(p)
        hits, n = 0, 0
        for start in range(0, int(len(audio) / rate) - seconds, step):
            y = audio[start * rate:(start + seconds) * rate]
            firsts = np.linspace(len(y) * 0.05, len(y) * 0.95 - 3 * rate, 3).astype(int)
            f = concert_features([y[a:a + 3 * rate] for a in firsts], rate, y[:5 * rate], y[-5 * rate:])
            hits += concert_score(f)[0] >= threshold
            n += 1
        per_file[str(p.relative_to(CACHE))] = {"windows": n, "live": int(hits)}
    return per_file


def judge(paths: list[Path], expected: str) -> dict:
    rows = []
    for p in paths:
        r = analyse(p)
        rows.append({"file": str(p.relative_to(CACHE)), "class": r.file_class if r.ok else "error",
                     "verdict": r.lossless_check.get("verdict"), "confidence": r.confidence,
                     "concert_score": (r.evidence.get("concert") or {}).get("score"),
                     "reasons": r.reasons[:2] if r.ok else [r.error]})
    return {"expected": expected, "n": len(rows), "classes": dict(Counter(r["class"] for r in rows)),
            "verdicts": dict(Counter(r["verdict"] for r in rows)),
            "other": [r for r in rows if r["class"] != expected], "files": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "held_out.json")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    sets = {"openmsx renders (FluidR3, TimGM6mb)": judge(renders(), "lossless_music")}
    for package in PACKAGED:
        sets[package] = judge(packaged(package), "lossy_music")
    print(f"\n{'set':40} {'n':>4}  classes")
    for name, s in sets.items():
        print(f"{name:40} {s['n']:4}  {s['classes']}")
    metal = [p for package in ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid")
             for p in sorted((fetch_deb(package) / PACKAGED[package][0]).rglob("*.ogg"))]
    windows = live_windows(metal)
    held = {k: v for k, v in windows.items() if not any(u in k for u in PACKAGED["fretsonfire-songs-muldjord"][1])}
    print(f"\nmetal files on 30 s windows: {sum(v['live'] for v in windows.values())} of "
          f"{sum(v['windows'] for v in windows.values())} windows sound live "
          f"({sum(v['live'] for v in held.values())} of {sum(v['windows'] for v in held.values())} held out)")
    renders_set = sets["openmsx renders (FluidR3, TimGM6mb)"]
    print(f"\ngenuine renders called transcoded: {renders_set['verdicts'].get('transcoded', 0)} of "
          f"{renders_set['n']} (verdicts {renders_set['verdicts']})")
    lossy = [s for name, s in sets.items() if name in PACKAGED]
    concerts = sum(s["classes"].get("concert", 0) for s in lossy)
    print(f"real lossy music called concert: {concerts} of {sum(s['n'] for s in lossy)}")
    for name, s in sets.items():
        for r in s["other"]:
            print(f"  {name}: {r['file']} -> {r['class']} (concert score {r['concert_score']}): {r['reasons']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": round(time.monotonic() - t0), "sets": sets,
                                    "metal_windows": windows}, indent=1))
    print(f"-> {args.out} ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
