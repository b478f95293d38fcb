"""The fake-lossless check on long files, judged on the excerpts intake decodes.

    python bench/long_files.py [--corpus DIR] [--work DIR] [--out FILE] [--jobs 2] [--placements 46]

The corpus's transcodes are clips of 2-30 s, which intake analyses whole. A file
over 45 s is judged on a few short excerpts (classify/analyse.py: check_excerpts),
and this bench measures that case. Each stereo genuine render of the corpus of 6 s
or more is looped to 3 minutes (0.5 s crossfades), written as 16-bit FLAC, and
transcoded whole (so the encoder's priming and frame grid run through the file as
in a real one) through MP3 128k/256k/320k/V0, AAC 128k/256k, Opus 64k/96k and
Vorbis q4/q8, decoded back to 16-bit FLAC. The files are kept in --work (about
2.2 GB; building them takes ~15-20 minutes on 2 cores) and reused by the next run.

Prints, per setting: verdicts, the share detected (called transcoded or upsampled)
and the family named right among detections; and the genuine files called
transcoded (target: none). A looped render is not a real 3-minute recording (the
same few seconds come back), so these figures complement bench/lossless_accuracy.py
rather than replace it. Writes one row per file to bench/results/long_files.json.

Where intake's excerpts fall decides what the check sees, and a genuine file is judged
once. So each genuine file is also judged at --placements placements of its excerpts
(the three moved together by 8192 samples at a time, up to 8.5 s, on the grid as intake
places them), and the bench prints how many of those call it transcoded (target: none).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one thread, as the analysis child

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

from bench.simulate import loop_sources  # noqa: E402
from bench.transcode import Setting, roundtrip  # noqa: E402
from nightowl.audio.decode import excerpt_offsets  # noqa: E402
from nightowl.audio.probe import probe  # noqa: E402
from nightowl.classify.analyse import EXCERPT_SECONDS, EXCERPTS, WHOLE_SECONDS, lossless_check_of  # noqa: E402
from nightowl.classify.lossless import check_lossless  # noqa: E402

SECONDS = 180
FADE_S = 0.5
MIN_SOURCE_S = 6.0
SETTINGS = (("mp3", "128k"), ("mp3", "256k"), ("mp3", "320k"), ("mp3", "V0"), ("aac", "128k"), ("aac", "256k"),
            ("opus", "64k"), ("opus", "96k"), ("vorbis", "q4"), ("vorbis", "q8"))
GENUINE = "genuine"
PLACEMENT_STEP = 8192  # samples: a multiple of the excerpts' 1024-sample grid


def sources(corpus: Path) -> list[Path]:
    """The corpus's stereo genuine renders long enough to loop."""
    recs = json.loads((corpus / "manifest.json").read_text())["files"]
    return sorted(corpus / r["path"] for r in recs
                  if r["path"].startswith("genuine/") and r["channels"] == 2 and r["duration"] >= MIN_SOURCE_S)


def name(source: Path, setting: tuple[str, str] | None) -> str:
    return f"{source.stem}__{'-'.join(setting) if setting else GENUINE}.flac"


def build(job: tuple[Path, tuple[str, str] | None, Path]) -> str:
    source, setting, work = job
    path = work / name(source, setting)
    if not path.exists():
        audio, sr = sf.read(source, dtype="float32", always_2d=True)
        audio = loop_sources([audio], SECONDS, sr, FADE_S)
        if setting is not None:
            audio = roundtrip(audio, sr, Setting(*setting))
        tmp = path.with_suffix(".part")
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sr, format="FLAC", subtype="PCM_16")
        tmp.rename(path)
    return path.name


def judge(path: Path) -> dict:
    info = probe(path)
    t0 = time.process_time()
    check = lossless_check_of(path, info)  # decode of the excerpts included
    source, setting = path.stem.split("__")
    return {"file": path.name, "source": source, "setting": setting, "verdict": check["verdict"],
            "family": check["source_codec"], "cutoff_hz": check["cutoff_hz"], "confidence": check["confidence"],
            "cpu_s": round(time.process_time() - t0, 4), "features": check["features"]}


def placements(path: Path, count: int) -> list[dict]:
    """The check at `count` placements of intake's excerpts in one file: those called transcoded."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    first = excerpt_offsets(len(audio) / sr, EXCERPTS, EXCERPT_SECONDS, sr, WHOLE_SECONDS)
    n = int(EXCERPT_SECONDS * sr)
    wrong = []
    for k in range(count):
        starts = [s + k * PLACEMENT_STEP for s in first]
        if starts[-1] + n > len(audio):
            break
        check = check_lossless([audio[s:s + n] for s in starts], sr, starts)
        if check.verdict == "transcoded":
            wrong.append({"file": path.name, "placement": k, "family": check.source_codec,
                          "reasons": check.reasons})
    return wrong


def summarise(rows: list[dict]) -> dict:
    per: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        per[r["setting"]].append(r)
    table = {}
    for setting, rs in sorted(per.items()):
        detected = [r for r in rs if r["verdict"] in ("transcoded", "upsampled")]
        right = [r for r in detected if r["family"] == setting.split("-")[0]]
        table[setting] = {"n": len(rs), "verdicts": dict(Counter(r["verdict"] for r in rs)),
                          "detected": len(detected), "family_right": len(right)}
    genuine = per.get(GENUINE, [])
    cpu = sorted(r["cpu_s"] for r in rows)
    return {"settings": table, "genuine_called_transcoded": [r["file"] for r in genuine if r["verdict"] == "transcoded"],
            "cpu_s_per_file": {"p50": cpu[len(cpu) // 2], "max": cpu[-1]} if cpu else {}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus")
    ap.add_argument("--work", type=Path, default=BENCH / "corpus_long")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "long_files.json")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--placements", type=int, default=46, help="placements of the excerpts per genuine file")
    args = ap.parse_args(argv)
    if not (args.corpus / "manifest.json").exists():
        print(f"no corpus in {args.corpus}: build it with bench/corpus.py first", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    jobs = [(s, setting, args.work) for s in sources(args.corpus) for setting in (None, *SETTINGS)]
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        built = list(pool.map(build, jobs))
    print(f"{len(built)} long files in {args.work} ({time.monotonic() - t0:.0f} s)")
    rows = [judge(args.work / b) for b in built]  # one process: CPU times as the analysis child's
    s = summarise(rows)
    print(f"\n{'setting':12} {'n':>3} {'detected':>9} {'family':>7}  verdicts")
    for setting, c in s["settings"].items():
        fam = f"{c['family_right'] / c['detected']:.0%}" if c["detected"] and setting != GENUINE else "-"
        print(f"{setting:12} {c['n']:3} {c['detected'] / c['n']:9.0%} {fam:>7}  {c['verdicts']}")
    print(f"\ngenuine files called transcoded: {len(s['genuine_called_transcoded'])}"
          f" {s['genuine_called_transcoded'] or ''}")
    genuine = [args.work / r["file"] for r in rows if r["setting"] == GENUINE]
    moved = [w for g in genuine for w in placements(g, args.placements)]
    s["placements"] = {"per_file": args.placements, "files": len(genuine), "called_transcoded": moved}
    print(f"genuine files at {args.placements} placements of the excerpts each: "
          f"{len(moved)} of {args.placements * len(genuine)} called transcoded "
          f"{sorted({(w['file'], w['family']) for w in moved}) or ''}")
    print(f"check CPU per file (excerpt decode included): p50 {s['cpu_s_per_file']['p50'] * 1000:.0f} ms, "
          f"max {s['cpu_s_per_file']['max'] * 1000:.0f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": s, "files": rows}, indent=1))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
