"""Restore quality and speed on the corpus transcodes: input vs DSP engine (vs a model).

    python bench/corpus.py && python bench/restore.py [--profiles "mp3 128k,aac 128k"]
        [--model CHECKPOINT] [--seconds 180] [--out FILE]

Quality. Every transcode of the corpus in the chosen profiles (default MP3 96/128/192k,
AAC 128k, Opus 64/96k; 23 real sources each, 6 s clips decoded back to 16-bit FLAC) is
restored by the DSP engine (and by `--model`, a nightowl checkpoint, when given), as
the daemon restores it: the daemon's lossless check runs on the clip first, and a clip
it calls transcoded is known to be lossy (the engine then takes weaker edges for the
codec's lowpass, see nightowl.restore.engine.LOSSY_MIN_DROP_DB). Its
reference is the same span of the genuine source. Estimate and reference are aligned
by GCC-PHAT first (codec priming delays would otherwise wreck SI-SDR), then scored
with nightowl.restore.metrics:
  LSD     log-spectral distance, dB, Hann 2048 / hop 512, power floor 1e-10 (-100 dB)
  HF-LSD  the same over the band above the input's cutoff (the cutoff the engine
          finds; where it finds none, the profile's usual lowpass, see NOMINAL_CUTOFF_HZ)
  MR-STFT auraloss multi-resolution STFT loss (its default resolutions)
  SI-SDR  scale-invariant SDR, dB
Per profile and over all clips: means, and paired bootstrap 95% CIs of the change
(engine minus input, 10,000 resamples of the clips).

Baseline. `copy-up` is the crude band replication the targets are set against,
scored beside the engine on the same clips and the same cutoffs: the 4 kHz under
the cutoff copied up as it is (STFT magnitude and phase, in whole copies of the
band), 1 dB quieter per kHz it moved, added to the input; no envelope, no gate.

Targets for the DSP engine (over all clips): LSD >= 30% lower and HF-LSD >= 40% lower
than the input, mean SI-SDR no more than 0.1 dB below the input, no clip's LSD worse.

Speed. A stereo track of `--seconds` (genuine renders looped) encoded as a 128 kbps MP3:
plain decode + 24-bit FLAC encode, side by side with decode + DSP restore + encode, on
one core (BLAS and FFT threads pinned to 1, the process pinned to one CPU). Target: the
DSP engine >= 30x real time. The neural engine's CPU speed (the shipped architecture,
randomly initialised: speed does not depend on the weights) on 10 s of the same track.
"""

from __future__ import annotations

import os

# one core for the speed figures: set before numpy/torch load their thread pools
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

from nightowl.audio.decode import decode  # noqa: E402
from nightowl.audio.probe import probe  # noqa: E402
from nightowl.classify.analyse import lossless_check_of  # noqa: E402
from nightowl.pipelines.restore import known_lossy, source_codec  # noqa: E402
from nightowl.restore import metrics, noise  # noqa: E402
from nightowl.restore.engine import Cutoff, Estimator, find_cutoff, restore  # noqa: E402
from nightowl.restore.neural import NeuralEstimator  # noqa: E402
from nightowl.restore.stft import SHIFT_STEP, bin_hz, istft, stft  # noqa: E402

from bench.intake_cost import CROSSFADE, SR, real_sources  # noqa: E402
from bench.simulate import loop_sources  # noqa: E402
from bench.transcode import Setting, encode_bytes  # noqa: E402

CORPUS = BENCH / "corpus"
PROFILES = ("mp3 96k", "mp3 128k", "mp3 192k", "aac 128k", "opus 64k", "opus 96k")
# where each profile's encoder puts its lowpass (measured on the corpus): the HF band
# when the engine finds no cutoff in a clip (a dull source shows none)
NOMINAL_CUTOFF_HZ = {"mp3": 16500.0, "aac": 16000.0, "opus": 20000.0, "vorbis": 16000.0}
TARGETS = {"lsd_change": -0.30, "hf_lsd_change": -0.40, "si_sdr_drop_db": -0.1, "clips_worse": 0,
           "dsp_realtime": 30.0}


COPY_UP_BAND_HZ = 4000.0
COPY_UP_SLOPE_DB_KHZ = -1.0


def copy_up(x: np.ndarray, sr: int, cutoff: Cutoff) -> np.ndarray:
    """The crude baseline (see the module doc): (frames, channels) in, same out."""
    if cutoff.hz is None:
        return x
    spec = stft(x.T)
    hz = bin_hz(sr)
    first = int(np.ceil(cutoff.hz / hz))
    width = int(COPY_UP_BAND_HZ / hz) // SHIFT_STEP * SHIFT_STEP  # keeps the copies' phase consistent
    targets = np.arange(first, spec.shape[1])
    sources = first - width + (targets - first) % width
    gain = 10 ** (COPY_UP_SLOPE_DB_KHZ * (targets - sources) * hz / 1000 / 20)
    added = np.zeros_like(spec)
    added[:, targets] = spec[:, sources] * gain[None, :, None].astype(np.float32)
    return x + istft(added, len(x)).T


def clips(profiles: list[str]) -> list[dict]:
    recs = json.loads((CORPUS / "manifest.json").read_text())["files"]
    genuine = {r["source"]: r for r in recs if r["truth"] == "lossless" and r["path"].startswith("genuine/")}
    out = []
    for r in recs:
        if r["truth"] == "transcoded" and f"{r['codec']} {r['setting']}" in profiles and r["source"] in genuine:
            out.append({**r, "reference": genuine[r["source"]]})
    return out


def load_pair(rec: dict) -> tuple[np.ndarray, np.ndarray, int]:
    x, sr = sf.read(CORPUS / rec["path"], dtype="float32", always_2d=True)
    ref, _ = sf.read(CORPUS / rec["reference"]["path"], dtype="float32", always_2d=True)
    # the clip's start in the source, minus where the genuine file itself starts in it
    offset = (rec.get("clip") or [0.0])[0] - (rec["reference"].get("clip") or [0.0])[0]
    start = round(offset * sr)
    return x, ref[start:start + len(x) + sr // 10], sr


def score(estimate: np.ndarray, reference: np.ndarray, sr: int, cutoff_hz: float) -> dict:
    est, ref, lag = metrics.align(estimate, reference, sr)
    return {"lsd": metrics.lsd(est, ref, sr), "hf_lsd": metrics.hf_lsd(est, ref, sr, cutoff_hz),
            "mr_stft": metrics.mr_stft(est, ref, sr), "si_sdr": metrics.si_sdr(est, ref), "lag": lag}


def evaluate(recs: list[dict], engines: dict[str, Estimator | None]) -> list[dict]:
    rows = []
    for i, rec in enumerate(recs):
        x, ref, sr = load_pair(rec)
        # as the daemon restores it: a file the lossless check calls transcoded is known
        # lossy, and the codec family it names decides whether holes are filled
        info = probe(CORPUS / rec["path"])
        check = lossless_check_of(CORPUS / rec["path"], info)
        verdict = check["verdict"]
        cutoff = find_cutoff(x, sr, lossy=known_lossy(check, info))
        codec = source_codec(check, info)
        band = cutoff.hz or NOMINAL_CUTOFF_HZ[rec["codec"]]
        row = {"path": rec["path"], "profile": f"{rec['codec']} {rec['setting']}", "source": rec["source"],
               "check": verdict, "source_codec": codec, "cutoff_hz": cutoff.hz, "hf_band_hz": band,
               "input": score(x, ref, sr, band)}
        for name, estimator in engines.items():
            t = time.process_time()
            result = restore(x, sr, estimator=estimator, cutoff=cutoff, source_codec=codec)
            cpu = time.process_time() - t
            row[name] = {**score(result.audio, ref, sr, band), "cpu_s": cpu, "filled": result.changed_share}
        t = time.process_time()
        crude = copy_up(x, sr, cutoff)
        row["copy-up"] = {**score(crude, ref, sr, band), "cpu_s": time.process_time() - t, "filled": None}
        rows.append(row)
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(recs)} clips", file=sys.stderr)
    return rows


def summarise(rows: list[dict], engine: str) -> dict:
    def block(rs: list[dict]) -> dict:
        out: dict = {"n": len(rs)}
        for m in ("lsd", "hf_lsd", "mr_stft", "si_sdr"):
            a = np.array([r["input"][m] for r in rs])
            b = np.array([r[engine][m] for r in rs])
            mean, lo, hi = metrics.bootstrap_ci(b - a)
            out[m] = {"input": float(a.mean()), engine: float(b.mean()), "change": mean, "ci95": [lo, hi],
                      "relative": float(b.mean() / a.mean() - 1) if m != "si_sdr" else None}
        out["clips_worse_lsd"] = int(sum(r[engine]["lsd"] > r["input"]["lsd"] + 1e-9 for r in rs))
        out["cpu_per_clip_s"] = float(np.mean([r[engine]["cpu_s"] for r in rs]))
        return out

    profiles = sorted({r["profile"] for r in rows}, key=lambda p: PROFILES.index(p) if p in PROFILES else 99)
    return {"all": block(rows), **{p: block([r for r in rows if r["profile"] == p]) for p in profiles}}


def _pinned_to_one_cpu() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def speed(seconds: float, model: NeuralEstimator | None) -> dict:
    """Real-time factors on one core: plain decode+encode vs decode+restore+encode."""
    _pinned_to_one_cpu()
    sources, origin = real_sources()
    track = loop_sources(sources, seconds, SR, CROSSFADE)
    data, ext = encode_bytes(track, 44100, Setting("mp3", "128k"))
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = Path(tmp) / f"track.{ext}"
        mp3.write_bytes(data)

        def plain() -> None:
            audio, sr = decode(mp3)
            sf.write(io.BytesIO(), audio, sr, format="FLAC", subtype="PCM_24")

        def dsp() -> None:
            # each job is a fresh child process: it builds the engine's noise table anew
            noise.forget()
            audio, sr = decode(mp3)
            # as the daemon restores an MP3 file: its bitrate and codec known
            restored = restore(audio, sr, bitrate_kbps=128.0, source_codec="mp3").audio
            sf.write(io.BytesIO(), restored, 44100, format="FLAC", subtype="PCM_24")

        plain()  # warm up codecs and imports
        times = {}
        for name, fn in (("decode_encode", plain), ("dsp_restore", dsp)):
            runs = []
            for _ in range(3):
                t = time.process_time()
                fn()
                runs.append(time.process_time() - t)
            times[name] = float(np.median(runs))
    out: dict = {"track_seconds": seconds, "built_from": origin, "cpu_s": times,
                 "realtime": {k: seconds / v for k, v in times.items()},
                 "restore_only_realtime": seconds / max(times["dsp_restore"] - times["decode_encode"], 1e-9)}
    out["neural"] = neural_speed(track[: 10 * 44100], model)
    return out


def neural_speed(audio: np.ndarray, model: NeuralEstimator | None) -> dict:
    import torch
    from nightowl.models.unet import UNet, parameter_count

    torch.set_num_threads(1)
    net = model if model is not None else NeuralEstimator(UNet().eval(), version="random-init", device="cpu")
    # the track is genuine, so no cutoff would be found: time the band above 16 kHz (a 128k MP3's)
    t = time.process_time()
    restore(audio, 44100, estimator=net, cutoff=Cutoff(16000.0, -1.0, 40.0))
    cpu = time.process_time() - t
    return {"architecture": net.model.describe(), "parameters": parameter_count(net.model), "audio_seconds": 10.0,
            "cpu_s": cpu, "realtime": 10.0 / cpu, "threads": 1}


def print_table(summary: dict, engine: str) -> None:
    print(f"\n{engine} vs input (means; change with paired bootstrap 95% CI)")
    print(f"{'profile':<10}{'n':>4}  {'LSD dB':>22}  {'HF-LSD dB':>22}  {'MR-STFT':>18}  {'SI-SDR dB':>26}  worse")
    def cell(c: dict, rel: bool = True) -> str:
        change = f"{c['relative']:+.0%}" if rel else f"{c['change']:+.3f}"
        return f"{c['input']:.2f}->{c[engine]:.2f} {change}"

    for key, s in summary.items():
        print(f"{key:<10}{s['n']:>4}  {cell(s['lsd']):>22}  {cell(s['hf_lsd']):>22}  {cell(s['mr_stft']):>18}  "
              f"{cell(s['si_sdr'], rel=False):>18} [{s['si_sdr']['ci95'][0]:+.3f},{s['si_sdr']['ci95'][1]:+.3f}]"
              f"  {s['clips_worse_lsd']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--model", type=Path, default=None, help="a nightowl restore checkpoint to score as well")
    ap.add_argument("--seconds", type=float, default=180.0, help="length of the speed track")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "restore.json")
    args = ap.parse_args(argv)
    if not (CORPUS / "manifest.json").exists():
        print("no corpus: run python bench/corpus.py first", file=sys.stderr)
        return 2
    recs = clips([p.strip() for p in args.profiles.split(",")])
    engines: dict[str, Estimator | None] = {"dsp": None}
    model = None
    if args.model:
        model = NeuralEstimator.from_checkpoint(args.model, device="auto")
        engines["model"] = model
    started = time.perf_counter()
    rows = evaluate(recs, engines)
    result: dict = {"clips": len(rows), "profiles": args.profiles, "metrics": {
        "stft": "Hann 2048, hop 512, power |X|^2 of full-scale float audio", "floor": 1e-10,
        "alignment": "GCC-PHAT, integer lag, common span", "hf_band": "above the input's cutoff"},
        "targets": TARGETS, "summary": {}, "rows": rows}
    for name in (*engines, "copy-up"):
        result["summary"][name] = summarise(rows, name)
        print_table(result["summary"][name], name)
    s = result["summary"]["dsp"]["all"]
    checks = {
        "LSD change (target <= -30%)": (s["lsd"]["relative"], s["lsd"]["relative"] <= TARGETS["lsd_change"]),
        "HF-LSD change (target <= -40%)": (s["hf_lsd"]["relative"],
                                           s["hf_lsd"]["relative"] <= TARGETS["hf_lsd_change"]),
        "SI-SDR change dB (target >= -0.1)": (s["si_sdr"]["change"],
                                              s["si_sdr"]["change"] >= TARGETS["si_sdr_drop_db"]),
        "clips with worse LSD (target 0)": (s["clips_worse_lsd"], s["clips_worse_lsd"] == 0),
    }
    if not args.no_speed:
        result["speed"] = sp = speed(args.seconds, model)
        rt = sp["realtime"]["dsp_restore"]
        print(f"\nspeed, one core, {args.seconds:.0f} s stereo 128k MP3: decode+encode "
              f"{sp['realtime']['decode_encode']:.0f}x real time, decode+DSP restore+encode {rt:.1f}x "
              f"(restore alone {sp['restore_only_realtime']:.1f}x)")
        n = sp["neural"]
        print(f"neural engine ({n['parameters'] / 1e6:.1f} M parameters), one thread: "
              f"{n['realtime']:.2f}x real time ({n['cpu_s']:.1f} s CPU for 10 s)")
        checks["DSP restore x real time (target >= 30)"] = (rt, rt >= TARGETS["dsp_realtime"])
    result["checks"] = {k: {"value": v, "met": ok} for k, (v, ok) in checks.items()}
    print("\ntargets (DSP engine, all clips):")
    for k, (v, ok) in checks.items():
        shown = f"{v:+.1%}" if "change" in k and "dB" not in k else f"{v:.3f}" if isinstance(v, float) else v
        print(f"  {k:<40} {shown:>10}  {'met' if ok else 'NOT MET'}")
    result["seconds"] = time.perf_counter() - started
    result["machine"] = {"python": platform.python_version(), "cpu_count": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
