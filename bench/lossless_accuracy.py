"""Accuracy of the fake-lossless check on the corpus built by bench/corpus.py.

    python bench/lossless_accuracy.py [--corpus DIR] [--out FILE]

Each file is decoded the way the daemon does it (decode_excerpts over the file's
duration) and judged by check_lossless. Prints genuine false positives, detection
per codec and setting, family accuracy among detections, and CPU time per file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "daemon"))

from nightowl.audio.decode import decode_excerpts  # noqa: E402
from nightowl.classify.lossless import check_lossless  # noqa: E402


def evaluate(corpus: Path) -> dict:
    manifest = json.loads((corpus / "manifest.json").read_text())
    rows = []
    for rec in manifest["files"]:
        excerpts, sr = decode_excerpts(corpus / rec["path"], rec["duration"])
        t0 = time.process_time()
        res = check_lossless(excerpts, sr)
        cpu = time.process_time() - t0
        rows.append({**{k: rec[k] for k in ("path", "truth", "codec", "setting", "source", "duration")},
                     "verdict": res.verdict, "family": res.source_codec, "cutoff_hz": res.cutoff_hz,
                     "confidence": res.confidence, "cpu_s": round(cpu, 4), "reasons": res.reasons,
                     "features": res.features})
    return summarise(rows)


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def summarise(rows: list[dict]) -> dict:
    genuine = [r for r in rows if r["truth"] == "lossless"]
    fp = [r["path"] for r in genuine if r["verdict"] == "transcoded"]
    by_setting: dict[str, list[dict]] = defaultdict(list)
    by_codec: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["truth"] == "transcoded":
            by_setting[f"{r['codec']} {r['setting']}"].append(r)
            by_codec[r["codec"]].append(r)
    def cell(rs: list[dict]) -> dict:
        det = [r for r in rs if r["verdict"] == "transcoded"]
        right = [r for r in det if r["family"] == r["codec"]]
        verdicts = defaultdict(int)
        for r in rs:
            verdicts[r["verdict"]] += 1
        return {"n": len(rs), "detected": len(det), "detection_rate": _rate(len(det), len(rs)),
                "family_right": len(right), "family_accuracy": _rate(len(right), len(det)),
                "verdicts": dict(verdicts)}
    # "testable": transcodes of sources whose genuine version shows music up to Nyquist.
    # A source with nothing above ~12 kHz cannot reveal any lowpass, whatever the detector.
    hf_sources = {r["source"] for r in genuine if r["path"].startswith("genuine/") and r["verdict"] == "lossless"}
    by_setting_hf: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["truth"] == "transcoded" and r["source"] in hf_sources:
            by_setting_hf[f"{r['codec']} {r['setting']}"].append(r)
    ups = [r for r in rows if r["truth"] == "upsampled"]
    detections = [r for r in rows if r["truth"] == "transcoded" and r["verdict"] == "transcoded"]
    cpu = sorted(r["cpu_s"] for r in rows)
    gverd = defaultdict(int)
    for r in genuine:
        gverd[r["verdict"]] += 1
    return {
        "genuine": {"n": len(genuine), "false_positives": len(fp), "false_positive_rate": _rate(len(fp), len(genuine)),
                    "false_positive_files": fp, "verdicts": dict(gverd)},
        "upsampled": {"n": len(ups), "detected": sum(r["verdict"] == "upsampled" for r in ups),
                      "called_transcoded": sum(r["verdict"] == "transcoded" for r in ups)},
        "per_codec": {k: cell(v) for k, v in sorted(by_codec.items())},
        "per_setting": {k: cell(v) for k, v in sorted(by_setting.items(), key=lambda kv: _order(kv[0]))},
        "hf_sources": sorted(hf_sources),
        "per_setting_hf_sources": {k: cell(v) for k, v in sorted(by_setting_hf.items(), key=lambda kv: _order(kv[0]))},
        "family_accuracy": _rate(sum(r["family"] == r["codec"] for r in detections), len(detections)),
        "cpu_s_per_file": {"mean": round(sum(cpu) / len(cpu), 4), "p50": cpu[len(cpu) // 2], "max": cpu[-1]},
        "files": rows,
    }


def _order(key: str) -> tuple:
    codec, setting = key.split()
    num = "".join(c for c in setting if c.isdigit())
    return (codec, setting[0] if setting[0].isalpha() else "", int(num or 0))


def print_table(s: dict) -> None:
    g = s["genuine"]
    print(f"genuine: {g['n']} files, called transcoded: {g['false_positives']} "
          f"(rate {g['false_positive_rate']:.3f}), verdicts {g['verdicts']}")
    for f in g["false_positive_files"]:
        print(f"  FALSE POSITIVE: {f}")
    u = s["upsampled"]
    print(f"upsampled: {u['detected']}/{u['n']} detected, {u['called_transcoded']} called transcoded")
    print(f"\n{'codec setting':<16}{'n':>4}{'detected':>10}{'family ok':>11}{'n(hf)':>7}{'det(hf)':>9}  verdicts")
    for k, c in s["per_setting"].items():
        fam = f"{c['family_accuracy']:.0%}" if c["family_accuracy"] is not None else "-"
        h = s["per_setting_hf_sources"].get(k, {"n": 0, "detection_rate": 0.0})
        print(f"{k:<16}{c['n']:>4}{c['detection_rate']:>10.0%}{fam:>11}{h['n']:>7}{h['detection_rate'] or 0:>9.0%}"
              f"  {c['verdicts']}")
    print()
    for k, c in s["per_codec"].items():
        fam = f"{c['family_accuracy']:.0%}" if c["family_accuracy"] is not None else "-"
        print(f"{k:<16}{c['n']:>4}{c['detection_rate']:>10.0%}{fam:>11}")
    print(f"\nfamily right among all detections: {s['family_accuracy']:.1%}")
    c = s["cpu_s_per_file"]
    print(f"check_lossless CPU per file: mean {c['mean'] * 1000:.0f} ms, p50 {c['p50'] * 1000:.0f} ms, "
          f"max {c['max'] * 1000:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "lossless_accuracy.json")
    args = ap.parse_args(argv)
    summary = evaluate(args.corpus)
    print_table(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"-> {args.out}")
    return 1 if summary["genuine"]["false_positives"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
