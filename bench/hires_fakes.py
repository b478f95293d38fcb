"""The fake-lossless check on "hi-res" fakes: CD-rate music resampled to 48, 96 and 192 kHz.

    python bench/hires_fakes.py [--out FILE]

The four genuine 44.1 kHz clips in tests/data, resampled (soxr VHQ) and stored as 16-
and 24-bit FLAC, and, for each, the same made from an MP3 (128k, 192k, V2) or an AAC
(128k) first and stored at 96 kHz, 24-bit: the commonest fake hi-res files. The
verdicts should be `upsampled` for the first group and `transcoded` for the second.
The corpus (bench/corpus.py) holds only 44.1 and 48 kHz files, so this is the check's
only measure at higher rates. Prints the verdict of every file and the counts, and
writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

from nightowl.classify.lossless import check_lossless  # noqa: E402

from bench.transcode import Setting, as_flac, made_hi_res, roundtrip  # noqa: E402

RATES = (48000, 96000, 192000)
SOURCES = (Setting("mp3", "128k"), Setting("mp3", "192k"), Setting("mp3", "V2"), Setting("aac", "128k"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "hires_fakes.json")
    args = ap.parse_args(argv)
    rows = []
    groups: dict[str, Counter] = {"upsampled from 44.1 kHz": Counter(), "lossy, then upsampled to 96 kHz": Counter()}
    print(f"{'file':44} {'verdict':13} {'family':8} cutoff")
    for path in sorted((REPO / "tests" / "data").glob("*.flac")):
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        cases = [(f"{path.stem} {rate // 1000} kHz {bits}-bit", "upsampled from 44.1 kHz",
                  as_flac(made_hi_res(audio, sr, rate), rate, bits), rate)
                 for rate in RATES for bits in (16, 24)]
        cases += [(f"{path.stem} {s.label} -> 96 kHz 24-bit", "lossy, then upsampled to 96 kHz",
                   as_flac(made_hi_res(roundtrip(audio, sr, s), sr, 96000), 96000, 24), 96000)
                  for s in SOURCES]
        for name, group, x, rate in cases:
            res = check_lossless([x], rate)
            groups[group][res.verdict] += 1
            rows.append({"file": name, "group": group, "verdict": res.verdict, "family": res.source_codec,
                         "cutoff_hz": res.cutoff_hz, "reasons": res.reasons})
            cutoff = f"{res.cutoff_hz / 1000:.2f} kHz" if res.cutoff_hz else "-"
            print(f"{name:44} {res.verdict:13} {res.source_codec or '-':8} {cutoff}")
    print()
    for group, counts in groups.items():
        print(f"{group}: {sum(counts.values())} files, {dict(counts)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "hires_fakes", "groups": {g: dict(c) for g, c in groups.items()},
                                    "files": rows}, indent=2))
    print(f"-> {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
