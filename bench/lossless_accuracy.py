"""Accuracy of the fake-lossless check on the corpus built by bench/corpus.py.

    python bench/lossless_accuracy.py [--corpus DIR] [--out FILE] [--redecide]

Each file is decoded the way the daemon does it (classify.analyse.check_excerpts:
excerpts of long files, short ones whole) and judged by check_lossless. Prints genuine false positives, the
detection rate per codec and setting, the codec family among detections, and the
CPU time per file. `--redecide` re-runs only the decision on the features saved
by the last run (for tuning the decision without decoding again).

Groups. A transcode can only be caught where its source had something above the
encoder's lowpass, so each source is measured once, independently of the check:
"bright" sources keep music in 15.5-19.5 kHz (long-term level at least 25 dB over
16-bit rounding noise). Nominal bitrates are stereo bitrates: a mono file at
"128 kbps" gets twice the bits per channel, and LAME and FFmpeg's AAC then keep
the full band. The targets are therefore judged on bright stereo sources; all
files, and the mono ones, are reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one thread, as the analysis child

import numpy as np  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "daemon"))

from nightowl.audio.decode import decode  # noqa: E402
from nightowl.classify.analyse import check_excerpts  # noqa: E402
from nightowl.classify.lossless import check_lossless, decide  # noqa: E402
from nightowl.classify.spectral import power_mean_db, spectrum_frames  # noqa: E402

BRIGHT_DB = -107.0  # 16-bit rounding noise sits near -132 dB per bin in this analysis

TARGETS = {  # codec -> (settings, required detection rate)
    "mp3": (("96k", "128k", "160k", "192k", "256k"), 0.98),
    "aac": (("96k", "128k", "160k"), 0.90),
    "opus": (("48k", "64k", "96k"), 0.90),
    "vorbis": (("q2", "q4"), 0.90),
}


def brightness_db(path: Path) -> float:
    """Long-term level of 15.5-19.5 kHz in dB per bin (the band where encoders put their lowpass)."""
    return audio_brightness_db(*decode(path))


def audio_brightness_db(audio: np.ndarray, sr: int) -> float:
    """`brightness_db` of decoded samples (frames, channels)."""
    freqs, frames = spectrum_frames([audio], sr)
    spectrum = power_mean_db(frames, axis=0)
    band = (freqs >= 15500) & (freqs <= 19500)
    return float(np.median(spectrum[band]))


def evaluate(corpus: Path) -> list[dict]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    bright = {rec["source"]: brightness_db(corpus / rec["path"]) for rec in manifest["files"]
              if rec["path"].startswith("genuine/")}
    rows = []
    for rec in manifest["files"]:
        excerpts, sr, starts = check_excerpts(corpus / rec["path"], rec["duration"], rec["sample_rate"])
        t0 = time.process_time()
        res = check_lossless(excerpts, sr, starts)
        cpu = time.process_time() - t0
        rows.append({**{k: rec[k] for k in ("path", "truth", "codec", "setting", "source", "duration", "channels")},
                     "source_bright_db": round(bright.get(rec["source"], -999.0), 1),
                     "verdict": res.verdict, "family": res.source_codec, "cutoff_hz": res.cutoff_hz,
                     "confidence": res.confidence, "cpu_s": round(cpu, 4), "reasons": res.reasons,
                     "features": res.features})
    return rows


def redecide(rows: list[dict]) -> list[dict]:
    for r in rows:
        res = decide(r["features"])
        r.update(verdict=res.verdict, family=res.source_codec, cutoff_hz=res.cutoff_hz, confidence=res.confidence,
                 reasons=res.reasons)
    return rows


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _cell(rs: list[dict]) -> dict:
    det = [r for r in rs if r["verdict"] == "transcoded"]
    right = [r for r in det if r["family"] == r["codec"]]
    verdicts: dict[str, int] = defaultdict(int)
    for r in rs:
        verdicts[r["verdict"]] += 1
    return {"n": len(rs), "detected": len(det), "detection_rate": _rate(len(det), len(rs)),
            "family_right": len(right), "family_accuracy": _rate(len(right), len(det)), "verdicts": dict(verdicts)}


def _order(key: str) -> tuple:
    codec, setting = key.split()
    num = "".join(c for c in setting if c.isdigit())
    return (codec, setting[0] if setting[0].isalpha() else "", int(num or 0))


def summarise(rows: list[dict]) -> dict:
    genuine = [r for r in rows if r["truth"] == "lossless"]
    fp = [r["path"] for r in genuine if r["verdict"] == "transcoded"]
    groups = {
        "all": lambda r: True,
        "bright_stereo": lambda r: r["source_bright_db"] >= BRIGHT_DB and r["channels"] == 2,
        "bright_mono": lambda r: r["source_bright_db"] >= BRIGHT_DB and r["channels"] == 1,
    }
    per_group = {}
    for name, keep in groups.items():
        cells: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            if r["truth"] == "transcoded" and keep(r):
                cells[f"{r['codec']} {r['setting']}"].append(r)
        per_group[name] = {k: _cell(v) for k, v in sorted(cells.items(), key=lambda kv: _order(kv[0]))}
    targets = {}
    for codec, (settings, need) in TARGETS.items():
        rs = [r for r in rows if r["truth"] == "transcoded" and r["codec"] == codec and r["setting"] in settings
              and groups["bright_stereo"](r)]
        rate = _rate(sum(r["verdict"] == "transcoded" for r in rs), len(rs))
        targets[f"{codec} {'/'.join(settings)}"] = {"n": len(rs), "detection_rate": rate, "target": need,
                                                   "met": rate is not None and rate >= need}
    ups = [r for r in rows if r["truth"] == "upsampled"]
    def family_rate(keep) -> float | None:  # type: ignore[no-untyped-def]
        det = [r for r in rows if r["truth"] == "transcoded" and r["verdict"] == "transcoded" and keep(r)]
        return _rate(sum(r["family"] == r["codec"] for r in det), len(det))
    cpu = sorted(r["cpu_s"] for r in rows)
    gverd: dict[str, int] = defaultdict(int)
    for r in genuine:
        gverd[r["verdict"]] += 1
    return {
        "genuine": {"n": len(genuine), "false_positives": len(fp), "false_positive_rate": _rate(len(fp), len(genuine)),
                    "false_positive_files": fp, "verdicts": dict(gverd)},
        "upsampled": {"n": len(ups), "detected": sum(r["verdict"] == "upsampled" for r in ups),
                      "called_transcoded": sum(r["verdict"] == "transcoded" for r in ups)},
        "targets": targets,
        "family_accuracy": {"all": family_rate(groups["all"]), "bright_stereo": family_rate(groups["bright_stereo"])},
        "per_setting": per_group,
        "cpu_s_per_file": {"mean": round(sum(cpu) / len(cpu), 4), "p50": cpu[len(cpu) // 2], "max": cpu[-1]},
        "files": rows,
    }


def print_table(s: dict) -> None:
    g = s["genuine"]
    print(f"genuine: {g['n']} files, called transcoded: {g['false_positives']} "
          f"(rate {g['false_positive_rate']:.3f}), verdicts {g['verdicts']}")
    for f in g["false_positive_files"]:
        print(f"  FALSE POSITIVE: {f}")
    u = s["upsampled"]
    print(f"upsampled: {u['detected']}/{u['n']} called upsampled, {u['called_transcoded']} called transcoded")
    ps = s["per_setting"]
    print(f"\n{'':16}{'---- all files ----':>26}  {'-- bright stereo --':>24}  {'-- bright mono --':>18}")
    print(f"{'codec setting':<16}{'n':>4}{'detected':>10}{'family':>9}  {'n':>5}{'detected':>10}{'family':>9}"
          f"  {'n':>5}{'detected':>10}")
    for k, c in ps["all"].items():
        b = ps["bright_stereo"].get(k, _cell([]))
        m = ps["bright_mono"].get(k, _cell([]))
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:.0%}"
        print(f"{k:<16}{c['n']:>4}{pct(c['detection_rate']):>10}{pct(c['family_accuracy']):>9}  {b['n']:>5}"
              f"{pct(b['detection_rate']):>10}{pct(b['family_accuracy']):>9}  {m['n']:>5}{pct(m['detection_rate']):>10}")
    print("\ntargets (bright stereo sources):")
    for k, t in s["targets"].items():
        print(f"  {k:<28} {t['detection_rate']:.0%} of {t['n']} (need {t['target']:.0%}): "
              f"{'met' if t['met'] else 'NOT MET'}")
    fa = s["family_accuracy"]
    print(f"family right among detections: {fa['all']:.1%} (all), {fa['bright_stereo']:.1%} (bright stereo)")
    c = s["cpu_s_per_file"]
    print(f"check_lossless CPU per file: mean {c['mean'] * 1000:.0f} ms, p50 {c['p50'] * 1000:.0f} ms, "
          f"max {c['max'] * 1000:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "lossless_accuracy.json")
    ap.add_argument("--redecide", action="store_true", help="decide again on the features of the last run")
    args = ap.parse_args(argv)
    if args.redecide:
        rows = redecide(json.loads(args.out.read_text())["files"])
    else:
        rows = evaluate(args.corpus)
    summary = summarise(rows)
    print_table(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"-> {args.out}")
    return 1 if summary["genuine"]["false_positives"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
