"""Accuracy of `nightowl explain` (the file class) on the corpus built by bench/corpus.py.

    python bench/classify.py [--corpus DIR] [--out FILE] [--batch 50] [--jobs 2] [--nightowl PATH]

Runs the installed console script, `nightowl --config TMP explain --json PATH...`, in batches
over every manifest record (`files` and `unreadable`), with a temporary config whose only inbox
is the corpus folder, so path rules see the corpus-relative paths. Compares the `class` it
prints with the manifest's `class` and prints:
  * the confusion matrix (rows: expected, columns: predicted) and overall accuracy;
  * recall and precision per class;
  * the genuine false-positive rate: genuine lossless files called fake_lossless;
  * the detection rate (called fake_lossless) per codec and setting of the fake-lossless files;
  * concerts and podcasts split by naming (etree/feed names and podcast tags vs plain names),
    which shows how much comes from the audio alone.
Writes everything, one row per file, to bench/results/classify.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CLASSES = ("fake_lossless", "lossless_music", "lossy_music", "concert", "podcast", "unknown")


def find_nightowl(explicit: str | None) -> str:
    """The console script: --nightowl, else next to this Python, else on PATH."""
    if explicit:
        return explicit
    here = Path(sys.executable).with_name("nightowl")
    if here.exists():
        return str(here)
    found = shutil.which("nightowl")
    if not found:
        raise SystemExit("nightowl console script not found (pip install -e . into the venv)")
    return found


def write_config(tmp: Path, corpus: Path, rules: list[Path]) -> Path:
    """A throwaway config: the corpus is the only inbox; output and state go to `tmp`."""
    def q(p: Path) -> str:
        return json.dumps(str(p.resolve()))  # a TOML basic string

    text = (f"output = {q(tmp / 'output')}\nstate_dir = {q(tmp / 'state')}\n"
            f"rules = [{', '.join(q(r) for r in rules)}]\n\n"
            f"[[inboxes]]\npath = {q(corpus)}\nname = \"corpus\"\n")
    path = tmp / "config.toml"
    path.write_text(text)
    return path


def explain(cmd: list[str], paths: list[Path]) -> dict[str, dict]:
    """One `explain --json` call; on a failed batch, each file alone so one bad file costs one row."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
    proc = subprocess.run([*cmd, *map(str, paths)], capture_output=True, text=True, env=env)
    out: dict[str, dict] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[str(Path(obj["path"]).resolve())] = obj
    missing = [p for p in paths if str(p.resolve()) not in out]
    if missing and len(paths) > 1:
        for p in missing:
            out.update(explain(cmd, [p]))
    elif missing:
        err = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        out[str(paths[0].resolve())] = {"path": str(paths[0]), "class": "error", "error": err[:300]}
    return out


def run_explain(corpus: Path, records: list[dict], nightowl: str, batch: int, jobs: int,
                rules: list[Path]) -> tuple[dict[str, dict], float]:
    with tempfile.TemporaryDirectory(prefix="nightowl-classify-") as tmp:
        config = write_config(Path(tmp), corpus, rules)
        cmd = [nightowl, "--config", str(config), "explain", "--json"]
        paths = [corpus / r["path"] for r in records]
        batches = [paths[i:i + batch] for i in range(0, len(paths), batch)]
        t0 = time.monotonic()
        results: dict[str, dict] = {}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for i, part in enumerate(pool.map(lambda b: explain(cmd, b), batches)):
                results.update(part)
                print(f"  batch {i + 1}/{len(batches)} done, {time.monotonic() - t0:.0f} s", file=sys.stderr)
        return results, time.monotonic() - t0


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def summarise(rows: list[dict]) -> dict:
    predicted = sorted({r["predicted"] for r in rows} - set(CLASSES))
    columns = [*CLASSES, *predicted]
    matrix = {c: {p: 0 for p in columns} for c in CLASSES}
    for r in rows:
        matrix[r["expected"]][r["predicted"]] += 1
    per_class = {}
    for c in CLASSES:
        n = sum(matrix[c].values())
        called = sum(matrix[e][c] for e in CLASSES)
        per_class[c] = {"n": n, "recall": _rate(matrix[c][c], n), "called": called,
                        "precision": _rate(matrix[c][c], called)}
    correct = sum(matrix[c][c] for c in CLASSES)
    genuine = [r for r in rows if r["expected"] == "lossless_music"]
    fp = [r["path"] for r in genuine if r["predicted"] == "fake_lossless"]
    lossless_any = [r for r in rows if r["truth"] == "lossless"]
    fp_any = [r["path"] for r in lossless_any if r["predicted"] == "fake_lossless"]
    cells: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["expected"] == "fake_lossless":
            key = f"{r['codec']} {r['setting']}" if r["truth"] == "transcoded" else f"upsampled {r['setting']}"
            cells[key].append(r)
    detection = {k: {"n": len(v), "detected": sum(x["predicted"] == "fake_lossless" for x in v),
                     "rate": _rate(sum(x["predicted"] == "fake_lossless" for x in v), len(v))}
                 for k, v in sorted(cells.items())}
    by_codec: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["expected"] == "fake_lossless":
            by_codec[r["codec"] or "upsampled"].append(r)
    codec_rate = {k: _rate(sum(x["predicted"] == "fake_lossless" for x in v), len(v)) for k, v in sorted(by_codec.items())}
    naming = {}
    for cls, flag, label in (("concert", "taper_name", "etree name"), ("podcast", "feed_name", "feed name"),
                             ("podcast", "podcast_tags", "podcast ID3 tags")):
        for value in (True, False):
            rs = [r for r in rows if r["expected"] == cls and bool(r.get(flag)) is value]
            if rs:
                naming[f"{cls}, {label if value else 'no ' + label}"] = {
                    "n": len(rs), "recall": _rate(sum(r["predicted"] == cls for r in rs), len(rs)),
                    "predicted": dict(Counter(r["predicted"] for r in rs))}
    return {
        "n": len(rows),
        "accuracy": _rate(correct, len(rows)),
        "columns": columns,
        "confusion": matrix,
        "per_class": per_class,
        "genuine": {"n": len(genuine), "called_fake_lossless": len(fp), "false_positive_rate": _rate(len(fp), len(genuine)),
                    "files": fp},
        "lossless_any_class": {"n": len(lossless_any), "called_fake_lossless": len(fp_any),
                               "false_positive_rate": _rate(len(fp_any), len(lossless_any)), "files": fp_any},
        "fake_lossless_detection": {"per_codec": codec_rate, "per_setting": detection},
        "by_naming": naming,
        "errors": [{"path": r["path"], "error": r["error"]} for r in rows if r["predicted"] == "error"],
        "unreadable_reported": sum(bool(r.get("error")) and r["predicted"] != "error" for r in rows),
    }


def print_report(s: dict, seconds: float) -> None:
    short = {"fake_lossless": "fake", "lossless_music": "lossless", "lossy_music": "lossy", "concert": "concert",
             "podcast": "podcast", "unknown": "unknown"}
    cols = s["columns"]
    print(f"\n{s['n']} files, accuracy {s['accuracy']:.1%} ({seconds:.0f} s)\n")
    head = "expected \\ predicted"
    print(f"{head:<22}" + "".join(f"{short.get(c, c)[:9]:>10}" for c in cols) + f"{'n':>7}")
    for c in CLASSES:
        row = s["confusion"][c]
        print(f"{c:<22}" + "".join(f"{row[p]:>10}" for p in cols) + f"{sum(row.values()):>7}")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    print(f"\n{'class':<16}{'n':>6}{'recall':>9}{'called':>8}{'precision':>11}")
    for c, m in s["per_class"].items():
        print(f"{c:<16}{m['n']:>6}{pct(m['recall']):>9}{m['called']:>8}{pct(m['precision']):>11}")
    g, a = s["genuine"], s["lossless_any_class"]
    print(f"\ngenuine lossless music called fake_lossless: {g['called_fake_lossless']}/{g['n']} "
          f"(false-positive rate {pct(g['false_positive_rate'])})")
    print(f"any lossless file (incl. FLAC concerts/podcasts/memos) called fake_lossless: "
          f"{a['called_fake_lossless']}/{a['n']} ({pct(a['false_positive_rate'])})")
    for f in g["files"]:
        print(f"  FALSE POSITIVE: {f}")
    d = s["fake_lossless_detection"]
    print("\nfake_lossless detected, per codec: " + ", ".join(f"{k} {pct(v)}" for k, v in d["per_codec"].items()))
    print(f"{'codec setting':<22}{'n':>5}{'detected':>10}")
    for k, v in d["per_setting"].items():
        print(f"{k:<22}{v['n']:>5}{pct(v['rate']):>10}")
    if s["by_naming"]:
        print("\nconcert/podcast recall by naming:")
        for k, v in s["by_naming"].items():
            print(f"  {k:<34} {pct(v['recall']):>7} of {v['n']:<3} {v['predicted']}")
    if s["errors"]:
        print(f"\n{len(s['errors'])} files failed in explain:")
        for e in s["errors"][:10]:
            print(f"  {e['path']}: {e['error']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=BENCH / "corpus")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "classify.json")
    ap.add_argument("--batch", type=int, default=50, help="paths per explain call")
    ap.add_argument("--jobs", type=int, default=2, help="explain calls in parallel")
    ap.add_argument("--nightowl", default=None, help="the nightowl console script (default: the venv's)")
    ap.add_argument("--rules", type=Path, nargs="*", default=[REPO / "rules" / "default.toml"],
                    help="rules files for the temporary config")
    args = ap.parse_args(argv)
    corpus = args.corpus.resolve()
    manifest = json.loads((corpus / "manifest.json").read_text())
    records = manifest["files"] + manifest.get("unreadable", [])
    missing = [r for r in records if "class" not in r]
    if missing:
        raise SystemExit(f"{len(missing)} manifest records have no `class`: rebuild with bench/corpus.py")
    print(f"explain over {len(records)} files in {corpus}", file=sys.stderr)
    results, seconds = run_explain(corpus, records, find_nightowl(args.nightowl), args.batch, args.jobs, args.rules)
    rows = []
    for r in records:
        got = results.get(str((corpus / r["path"]).resolve()), {"class": "error", "error": "no output"})
        rows.append({"path": r["path"], "expected": r["class"], "predicted": got.get("class") or "none",
                     "confidence": got.get("confidence"), "truth": r["truth"], "codec": r["codec"],
                     "setting": r["setting"], "source": r["source"],
                     "lossless_check": got.get("lossless_check"), "rule": got.get("rule"),
                     "pipeline": got.get("pipeline"), "error": got.get("error"),
                     **{k: r[k] for k in ("taper_name", "feed_name", "podcast_tags", "sbd", "kind") if k in r}})
    summary = summarise(rows)
    print_report(summary, seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**summary, "seconds": round(seconds, 1), "files": rows}, indent=1)
    # error messages name files by absolute path: keep the results free of this machine's paths
    args.out.write_text(text.replace(str(REPO) + "/", ""))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
