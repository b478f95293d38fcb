"""The daemon's look over a large inbox: CPU and memory for 100,000 known files.

    python bench/rescan_cost.py [--files 100000] [--per-folder 12] [--reps 5] [--out FILE]

Every `rescan_minutes` (30 by default) the daemon looks over each inbox for what its
watch missed: it reads what the database knows of the inbox (`Store.known_files`) and
walks the inbox, stats every file and compares (`nightowl.watch.reconcile`, with the
shipped ignore patterns). bench/daemon_idle.py measures the daemon idle between looks
with 5,000 files; this measures one look at a library's size.

An inbox of `--files` empty files is built in a temporary folder, laid out as
artist/album/NN - title.flac with `--per-folder` tracks to an album (their content is
never read by the look), and a database through `Store` that knows every one of them as
classified, each with the evidence the real analysis gives a real clip (so its rows
are as large as a library's). Then, `--reps` times each and alternating: the look, and
a bare walk of the same tree (os.walk and os.lstat of every file, nothing compared):
the floor any look has to pay. Reported: the look's CPU (median), as a ratio of the
bare walk's, per 1,000 files, and as a share of a core at the default rescan interval;
the Python memory the look allocates at its peak (tracemalloc, a separate run).
Target: the look's share of a core at the default interval under a tenth of the idle
target (1 % of a core: bench/daemon_idle.py), so that a library of this size keeps the
daemon idle.
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
import tracemalloc
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "daemon"))

from nightowl.classify.analyse import analyse  # noqa: E402
from nightowl.config import DEFAULT_IGNORE, Inbox, Settings  # noqa: E402
from nightowl.store import Store  # noqa: E402
from nightowl.watch import reconcile  # noqa: E402

TARGET_SHARE = 0.1  # % of a core, at the default rescan interval
DEFAULT_RESCAN_MINUTES = Settings.model_fields["rescan_minutes"].default


def build(root: Path, files: int, per_folder: int) -> tuple[Inbox, Store]:
    inbox = Inbox(path=root / "inbox", name="library")
    real = analyse(REPO / "tests" / "data" / "guit_em9.flac").to_dict()
    store = Store(root / "nightowl.db")
    store.db.execute("BEGIN")
    for n in range(files):
        album, track = divmod(n, per_folder)
        folder = inbox.path / f"Artist {album // 10:04}" / f"Album {album:05}"
        if track == 0:
            folder.mkdir(parents=True)
        path = folder / f"{track + 1:02} - Title {n}.flac"
        path.touch()
        st = path.lstat()
        file_id = store.add_file(path=str(path), inbox=inbox.name, rel_path=path.relative_to(inbox.path).as_posix(),
                                 size=st.st_size, mtime=st.st_mtime, fingerprint=f"{n:032x}")
        store.set_classified(file_id, probe=real["probe"], file_class=real["file_class"],
                             confidence=real["confidence"], evidence=real["evidence"])
    store.db.execute("COMMIT")
    return inbox, store


def look(inbox: Inbox, store: Store) -> tuple[list[Path], list[int]]:
    result = reconcile(inbox, store.known_files(inbox.name), list(DEFAULT_IGNORE))
    assert result is not None
    return result


def bare_walk(inbox: Inbox) -> int:
    n = 0
    for root, _dirs, names in os.walk(inbox.path):
        for name in names:
            os.lstat(os.path.join(root, name))
            n += 1
    return n


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--per-folder", type=int, default=12)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "rescan_cost.json")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nightowl-rescan-") as tmp:
        t0 = time.perf_counter()
        inbox, store = build(Path(tmp), args.files, args.per_folder)
        build_s = time.perf_counter() - t0
        todo, gone = look(inbox, store)
        assert not todo and not gone, (len(todo), len(gone))  # everything known, unchanged
        assert bare_walk(inbox) == args.files
        looks, walks = [], []
        for _ in range(args.reps):
            looks.append(timed(lambda: look(inbox, store)))
            walks.append(timed(lambda: bare_walk(inbox)))
        tracemalloc.start()
        look(inbox, store)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        db_mb = (Path(tmp) / "nightowl.db").stat().st_size / 2**20
        store.close()

    look_cpu = statistics.median(c for c, _ in looks)
    walk_cpu = statistics.median(c for c, _ in walks)
    share = 100 * look_cpu / (DEFAULT_RESCAN_MINUTES * 60)
    result = {
        "benchmark": "rescan_cost",
        "measured": "Store.known_files + watch.reconcile (shipped ignore patterns) vs os.walk + os.lstat",
        "files": args.files,
        "per_folder": args.per_folder,
        "repetitions": args.reps,
        "statistic": "median CPU seconds (time.process_time)",
        "database_mb": round(db_mb, 1),
        "look_cpu_s": round(look_cpu, 3),
        "look_wall_s": round(statistics.median(w for _, w in looks), 3),
        "bare_walk_cpu_s": round(walk_cpu, 3),
        "ratio_to_bare_walk": round(look_cpu / walk_cpu, 2) if walk_cpu else None,
        "look_ms_per_1000_files": round(1000 * look_cpu / args.files * 1000, 2),
        "look_peak_python_mb": round(peak / 2**20, 1),
        "rescan_minutes": DEFAULT_RESCAN_MINUTES,
        "share_of_a_core_pct": round(share, 3),
        "target_share_pct": TARGET_SHARE,
        "pass": share < TARGET_SHARE,
        "build_seconds": round(build_s, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(f"inbox of {args.files:,} known files ({args.per_folder} to a folder), database {db_mb:.0f} MB; "
          f"median of {args.reps}")
    print(f"  the look (known_files + reconcile): {look_cpu:.2f} s CPU, {result['look_wall_s']:.2f} s wall, "
          f"{result['look_ms_per_1000_files']:.1f} ms per 1,000 files, peak {result['look_peak_python_mb']:.0f} MB "
          "of Python memory")
    print(f"  bare walk + lstat of the same tree: {walk_cpu:.2f} s CPU (the look: {result['ratio_to_bare_walk']}x)")
    print(f"  every {DEFAULT_RESCAN_MINUTES:g} min: {share:.3f}% of a core (target < {TARGET_SHARE}%): "
          f"{'PASS' if result['pass'] else 'FAIL'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
