"""Intake cost per file as a fraction of a full decode of the same file.

    python bench/intake_cost.py [--reps N] [--out FILE] [--quick] [--stages]

"Intake" is what the daemon does for each settled file: `nightowl.intake.fingerprint`
(in the daemon process) plus `nightowl.classify.analyse.analyse` (in the analysis child:
probe, the excerpts, the fake-lossless check for lossless files, a quick VAD listen
(and the speech features where it hears talk), the room/crowd features (and the first
and last seconds where applause there could change the class), the names
and lineage files, the class decision). Target: at most 0.3 of a full decode for
files of 3 minutes and more. The fake-lossless part alone (fingerprint + probe +
check) is timed too, against its own target of 0.25.
The reference is `nightowl.audio.decode.decode(path)` of the whole file. Both run in
this process: the hand-off to the analysis child and the SQLite writes are not
counted here (bench/settle_latency.py and bench/daemon_idle.py time those end to end).

Test files are built in a temporary folder from real audio: the genuine corpus
renders (bench/corpus/genuine, when built) or the clips in tests/data, joined with
1 s crossfades and looped to 3, 5 and 10 minutes, written as 16-bit 44.1 kHz stereo
FLAC; plus a 5-minute FLAC decoded from a 128 kbps MP3 (a fake lossless file), a
5-minute MP3 (only probed: the check does not apply to lossy codecs), and short
real files (the tests/data clips, a 30 s render) for information. Where
bench/long_files.py has built its files (--long), its genuine 3-minute files are
timed too: each loops one render, so together they show how the cost varies with
the music (how much of the check's grid search a file calls for).

Everything runs in this one process, imports and codecs warmed up first. For each
file the intake and the full decode alternate, `--reps` times each (default 5), and
the medians of CPU time (time.process_time) and wall time (time.perf_counter) are
compared. Files are read from the page cache after the first repetition, for both.
Targets, for files of 3 minutes and more: intake CPU <= 0.3 x full-decode CPU, the
fake-lossless part <= 0.25 x. Numeric libraries run on one thread, and freed memory
is kept for reuse (nightowl.heap), as in the daemon's analysis child.

With --stages, the long files' intake is also taken apart: the excerpt decode, the
fake-lossless check, the quick VAD listen, the room/crowd features, and the first and
last seconds (decode and features; timed for every file, heard by intake only where
applause there could change the class: the "ends heard" column).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: as the analysis child does

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

from bench.simulate import loop_sources  # noqa: E402
from bench.transcode import Setting, encode_bytes, roundtrip  # noqa: E402
from nightowl.audio.decode import decode  # noqa: E402
from nightowl.audio.probe import probe  # noqa: E402
from nightowl.audio.decode import decode_ends, decode_plan  # noqa: E402
from nightowl.classify import analyse as analysis  # noqa: E402
from nightowl.classify.analyse import analyse, check_excerpts, lossless_check_of  # noqa: E402
from nightowl.classify.concert import concert_features, end_features  # noqa: E402
from nightowl.classify.lossless import check_lossless  # noqa: E402
from nightowl.classify.speech import speech_share  # noqa: E402
from nightowl.heap import keep_freed_memory  # noqa: E402
from nightowl.intake import fingerprint  # noqa: E402

SR = 44100
CROSSFADE = 1.0
TARGET_RATIO = 0.3  # the whole intake, podcast and concert features included
CHECK_TARGET_RATIO = 0.25  # probe + fingerprint + the fake-lossless check
LONG_SECONDS = 180.0
DATA = REPO / "tests" / "data"
CORPUS = BENCH / "corpus"


def _stereo(audio: np.ndarray) -> np.ndarray:
    return np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio[:, :2]


def real_sources() -> tuple[list[np.ndarray], str]:
    """Genuine 44.1 kHz recordings/renders to build long files from (corpus first, tests/data otherwise)."""
    paths: list[Path] = []
    origin = "tests/data"
    manifest = CORPUS / "manifest.json"
    if manifest.exists():
        recs = json.loads(manifest.read_text())["files"]
        renders = [r for r in recs if r["truth"] == "lossless" and r["path"].startswith("genuine/")
                   and r["duration"] >= 20 and r["sample_rate"] == SR
                   and (CORPUS / r["path"]).exists()]
        # the longest render first; skip the 30 s clip its longer one (relax_song_long) contains
        renders.sort(key=lambda r: -r["duration"])
        longer = {r["source"].removesuffix("_long") for r in renders if r["source"].endswith("_long")}
        paths = [CORPUS / r["path"] for r in renders if r["source"] not in longer]
        origin = "bench/corpus/genuine (MIDI renders)"
    if not paths:
        paths = sorted(DATA.glob("*.flac"))
    out = []
    for p in paths:
        audio, sr = sf.read(p, dtype="float32", always_2d=True)
        if sr == SR:
            out.append(_stereo(audio))
    return out, origin


def build_files(folder: Path, quick: bool) -> list[dict]:
    sources, origin = real_sources()
    files: list[dict] = []

    def flac(name: str, audio: np.ndarray, kind: str) -> None:
        path = folder / f"{name}.flac"
        sf.write(path, audio, SR, format="FLAC", subtype="PCM_16")
        files.append({"name": path.name, "path": path, "kind": kind, "built_from": origin})

    lengths = (3, 5) if quick else (3, 5, 10)
    for k, minutes in enumerate(lengths):
        flac(f"genuine_{minutes}min", loop_sources(sources, minutes * 60, SR, CROSSFADE, offset=k), "genuine FLAC")
    five = loop_sources(sources, 300, SR, CROSSFADE, offset=1)
    flac("fake_mp3-128k_5min", roundtrip(five, SR, Setting("mp3", "128k")), "FLAC from 128k MP3")
    data, ext = encode_bytes(five, SR, Setting("mp3", "192k"))
    mp3 = folder / f"lossy_5min.{ext}"
    mp3.write_bytes(data)
    files.append({"name": mp3.name, "path": mp3, "kind": "MP3 192k (probe only)", "built_from": origin})
    # short real files, for information
    for p in sorted(DATA.glob("*.flac"))[:2]:
        files.append({"name": p.name, "path": p, "kind": "short genuine FLAC (tests/data)", "built_from": "tests/data"})
    if (CORPUS / "genuine" / "relax_song.flac").exists():
        p = CORPUS / "genuine" / "relax_song.flac"
        files.append({"name": p.name, "path": p, "kind": "30 s genuine FLAC (corpus)", "built_from": "bench/corpus"})
    return files


def intake_once(path: Path) -> dict:
    """What the daemon does per file: fingerprint (daemon) + analyse (child; probes, checks, decides)."""
    fingerprint(path)
    return analyse(path).to_dict()


def check_once(path: Path) -> None:
    """The fake-lossless part alone: fingerprint + probe + the check on its excerpts."""
    fingerprint(path)
    info = probe(path)
    if info.lossless:
        lossless_check_of(path, info)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def measure(path: Path, reps: int) -> dict:
    keys = ("intake", "check", "decode", "fingerprint", "probe", "excerpts")
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    result: dict = {}
    info = probe(path)
    for _ in range(reps):
        # alternate so drifts (thermal, other load) hit both sides alike
        samples["decode"].append(timed(lambda: decode(path)))
        samples["intake"].append(timed(lambda: result.update(intake_once(path))))
        samples["check"].append(timed(lambda: check_once(path)))
        samples["fingerprint"].append(timed(lambda: fingerprint(path)))
        samples["probe"].append(timed(lambda: probe(path)))
        # the check's input, decoded the way analyse() does it (lossless files only)
        samples["excerpts"].append(timed(lambda: check_excerpts(path, info.duration, info.sample_rate))
                                   if info.lossless else (0.0, 0.0))

    def med(key: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[key])

    probed = result.get("probe") or {}
    check = result.get("lossless_check") or {}
    out = {
        "duration_s": probed.get("duration"),
        "codec": probed.get("codec"),
        "size_bytes": path.stat().st_size,
        "class": result.get("file_class"),
        "verdict": check.get("verdict"),
        "source_codec": check.get("source_codec"),
    }
    for key in samples:
        out[f"{key}_cpu_s"] = round(med(key, 0), 5)
        out[f"{key}_wall_s"] = round(med(key, 1), 5)
    # what is left of analyse once probe and excerpt decoding are taken out: check, other features, decision
    out["rest_cpu_s"] = round(max(out["intake_cpu_s"] - out["fingerprint_cpu_s"] - out["probe_cpu_s"]
                                   - out["excerpts_cpu_s"], 0.0), 5)
    out["ratio_cpu"] = round(out["intake_cpu_s"] / out["decode_cpu_s"], 4) if out["decode_cpu_s"] else None
    out["ratio_wall"] = round(out["intake_wall_s"] / out["decode_wall_s"], 4) if out["decode_wall_s"] else None
    out["check_ratio_cpu"] = round(out["check_cpu_s"] / out["decode_cpu_s"], 4) if out["decode_cpu_s"] else None
    return out


def stage_costs(path: Path, reps: int) -> dict:
    """Median CPU milliseconds of each stage of analyse() on a long file, timed on its own."""
    info = probe(path)
    times: dict[str, list[float]] = {k: [] for k in ("excerpts", "check", "listen", "room", "ends", "end_features")}
    for _ in range(reps):
        t, plan = _cpu(lambda: decode_plan(path, info.duration, count=analysis.EXCERPTS,
                                           length=analysis.EXCERPT_SECONDS, edge=analysis.EDGE_SECONDS,
                                           sample_rate=info.sample_rate, whole_up_to=analysis.WHOLE_SECONDS))
        times["excerpts"].append(t)
        sr = plan.sample_rate
        times["check"].append(_cpu(lambda: check_lossless(plan.middle, sr, plan.starts))[0])
        times["listen"].append(_cpu(lambda: speech_share(plan.middle, sr))[0])
        t, room = _cpu(lambda: concert_features(plan.middle, sr))
        times["room"].append(t)
        t, (head, tail) = _cpu(lambda: decode_ends(path, info.duration, analysis.EDGE_SECONDS))
        times["ends"].append(t)
        times["end_features"].append(_cpu(lambda: end_features(head, tail, sr, room))[0])
    out = {k: round(statistics.median(v) * 1000, 2) for k, v in times.items()}
    out["ends_heard"] = "ends" not in analyse(path).evidence["concert"]
    return out


def _cpu(fn: Callable[[], object]) -> tuple[float, object]:
    c0 = time.process_time()
    result = fn()
    return time.process_time() - c0, result


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="repetitions per file (median), at least 3")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "intake_cost.json")
    ap.add_argument("--quick", action="store_true", help="skip the 10-minute file")
    ap.add_argument("--stages", action="store_true", help="also time each stage of the long files' intake")
    ap.add_argument("--long", type=Path, default=BENCH / "corpus_long",
                    help="also time the genuine 3-minute files bench/long_files.py keeps here, where present")
    args = ap.parse_args(argv)
    reps = max(3, args.reps)
    keep_freed_memory()  # as the analysis child does at start

    with tempfile.TemporaryDirectory(prefix="nightowl-intake-cost-") as tmp:
        t0 = time.perf_counter()
        # two folders down: intake reads the text files beside a recording and in its
        # parent (lineage files), and the temporary folder's parent may hold anything
        album = Path(tmp) / "Artist" / "Album"
        album.mkdir(parents=True)
        files = build_files(album, args.quick)
        files += [{"name": p.name, "path": p, "kind": "3-min loop of one genuine render (bench/long_files.py)",
                   "built_from": "bench/long_files.py"} for p in sorted(args.long.glob("*__genuine.flac"))]
        build_s = time.perf_counter() - t0
        # warm up: imports are done above; this loads codecs, numpy/scipy paths, caches
        for f in files[:1] + files[-1:]:
            intake_once(f["path"])
            decode(f["path"])
        rows = []
        for f in files:
            m = measure(f["path"], reps)
            rows.append({"file": f["name"], "kind": f["kind"], "built_from": f["built_from"], **m})
            if args.stages and (m["duration_s"] or 0) >= LONG_SECONDS and m["codec"] == "flac":
                rows[-1]["stages_cpu_ms"] = stage_costs(f["path"], reps)

    long_rows = [r for r in rows if (r["duration_s"] or 0) >= LONG_SECONDS]
    max_cpu = max((r["ratio_cpu"] for r in long_rows), default=None)
    max_wall = max((r["ratio_wall"] for r in long_rows), default=None)

    hdr = (f"{'file':26} {'dur s':>6} {'codec':>5} {'verdict':>13} {'fp ms':>6} {'probe ms':>8} "
           f"{'excerpts':>8} {'rest':>6} {'intake cpu':>10} {'decode cpu':>10} {'ratio cpu':>9} "
           f"{'intake wall':>11} {'decode wall':>11} {'ratio wall':>10} {'check ratio':>11}")
    print(f"intake cost vs full decode, median of {reps}; CPU seconds unless noted")
    print("intake = fingerprint + analyse(); rest = intake - fp - probe - excerpt decode (check, features, decision);")
    print("check ratio = the fake-lossless part alone (fingerprint + probe + check), cpu, against the decode")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['file'][:26]:26} {r['duration_s'] or 0:6.1f} {r['codec'] or '-':>5} {r['verdict'] or '-':>13} "
              f"{r['fingerprint_cpu_s'] * 1000:6.1f} {r['probe_cpu_s'] * 1000:8.1f} "
              f"{r['excerpts_cpu_s']:8.4f} {r['rest_cpu_s']:6.3f} {r['intake_cpu_s']:10.4f} "
              f"{r['decode_cpu_s']:10.4f} {r['ratio_cpu']:9.3f} "
              f"{r['intake_wall_s']:11.4f} {r['decode_wall_s']:11.4f} {r['ratio_wall']:10.3f} "
              f"{r['check_ratio_cpu']:11.3f}")
    print("-" * len(hdr))
    staged = [r for r in rows if "stages_cpu_ms" in r]
    if staged:
        print(f"\nstages of the long files' intake, CPU ms, median of {reps} (each timed on its own)")
        head = f"{'file':26} {'decode':>7} {'excerpts':>8} {'check':>6} {'listen':>6} {'room':>6} {'ends':>6} " \
               f"{'end feat':>8} {'ends heard':>10}"
        print(head)
        print("-" * len(head))
        for r in staged:
            st = r["stages_cpu_ms"]
            print(f"{r['file'][:26]:26} {r['decode_cpu_s'] * 1000:7.1f} {st['excerpts']:8.1f} {st['check']:6.1f} "
                  f"{st['listen']:6.1f} {st['room']:6.1f} {st['ends']:6.1f} {st['end_features']:8.1f} "
                  f"{'yes' if st['ends_heard'] else 'no':>10}")
        print("-" * len(head))
    verdict = "PASS" if max_cpu is not None and max_cpu <= TARGET_RATIO else "FAIL"
    print(f"max ratio for files >= {LONG_SECONDS / 60:.0f} min: cpu {max_cpu:.3f}, wall {max_wall:.3f}"
          f" (target <= {TARGET_RATIO}): {verdict}")
    max_check = max((r["check_ratio_cpu"] for r in long_rows), default=None)
    if max_check is not None:
        print(f"fake-lossless part only (fingerprint + probe + check): max ratio for files >= "
              f"{LONG_SECONDS / 60:.0f} min: cpu {max_check:.3f} (target <= {CHECK_TARGET_RATIO}): "
              f"{'PASS' if max_check <= CHECK_TARGET_RATIO else 'FAIL'}")
        over_check = sum(r["check_ratio_cpu"] > CHECK_TARGET_RATIO for r in long_rows)
        over_all = sum(r["ratio_cpu"] > TARGET_RATIO for r in long_rows)
        print(f"  over the {len(long_rows)} files of 3 min and more: median {_median(long_rows, 'check_ratio_cpu'):.3f},"
              f" {over_check} over {CHECK_TARGET_RATIO} (whole intake: median {_median(long_rows, 'ratio_cpu'):.3f},"
              f" {over_all} over {TARGET_RATIO})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "intake_cost",
        "measured": "fingerprint + analyse (probe + lossless check + decision) vs decode() of the whole file",
        "repetitions": reps,
        "statistic": "median",
        "target_ratio": TARGET_RATIO,
        "long_file_min_seconds": LONG_SECONDS,
        "max_ratio_cpu_long": max_cpu,
        "max_ratio_wall_long": max_wall,
        "check_target_ratio": CHECK_TARGET_RATIO,
        "max_check_ratio_cpu_long": max_check,
        "pass": verdict == "PASS",
        "build_seconds": round(build_s, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "files": rows,
    }, indent=2))
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
