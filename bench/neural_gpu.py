"""The neural restore engine on a GPU: speed, peak GPU memory, half against full precision.

Needs a machine with CUDA. The track: 60 s of real music (tests/data/loop_amen_full.flac,
looped), the band above 16 kHz filled, as a 128 kbps MP3 would need. The shipped U-Net
architecture, randomly initialised: speed does not depend on the weights. Side by side in
one run: the GPU in half precision (what a job on a GPU slot uses) at batch sizes 4 (the
default) and 16, the GPU in full precision, and the machine's CPU with all its threads.

Half precision is checked against full precision on the same network: the restored
band's difference, as a signal-to-difference ratio in dB, and that nothing overflows
(every sample finite). Wall-clock times, median of three after a warm-up (one CPU run).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

import torch  # noqa: E402
from nightowl.models.unet import UNet, parameter_count  # noqa: E402
from nightowl.restore.engine import Cutoff, restore  # noqa: E402
from nightowl.restore.neural import NeuralEstimator  # noqa: E402

MUSIC = REPO / "tests" / "data" / "loop_amen_full.flac"
CUTOFF = Cutoff(16000.0, -1.0, 40.0)


def track(seconds: float) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(MUSIC, dtype="float32", always_2d=True)
    reps = int(np.ceil(seconds * sr / len(audio)))
    return np.tile(audio, (reps, 1))[: int(seconds * sr)], sr


def timed(net: NeuralEstimator, audio: np.ndarray, sr: int, runs: int) -> tuple[float, np.ndarray]:
    out = restore(audio, sr, estimator=net, cutoff=CUTOFF).audio  # warm-up: kernels, allocator
    times = []
    for _ in range(runs):
        if net.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = restore(audio, sr, estimator=net, cutoff=CUTOFF).audio
        if net.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def band_snr_db(reference: np.ndarray, other: np.ndarray, sr: int) -> float:
    """How far `other` is from `reference` above the cutoff, as signal to difference in dB."""
    ref = np.fft.rfft(reference, axis=0)
    diff = np.fft.rfft(other - reference, axis=0)
    band = np.fft.rfftfreq(len(reference), 1 / sr) >= CUTOFF.hz
    return float(10 * np.log10(np.sum(np.abs(ref[band]) ** 2) / max(np.sum(np.abs(diff[band]) ** 2), 1e-30)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "neural_gpu.json")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU", file=sys.stderr)
        return 2
    audio, sr = track(args.seconds)
    torch.manual_seed(0)
    model = UNet().eval()
    rows: dict[str, dict] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, device, batch, half in (("gpu_half_batch4", "cuda", 4, True), ("gpu_half_batch16", "cuda", 16, True),
                                      ("gpu_full_batch4", "cuda", 4, False), ("cpu_full_batch4", "cpu", 4, False)):
        net = NeuralEstimator(model, version="random-init", device=device, batch_size=batch, half=half)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds, out = timed(net, audio, sr, runs=3 if device == "cuda" else 1)
        rows[name] = {"wall_s": seconds, "realtime": args.seconds / seconds, "finite": bool(np.isfinite(out).all())}
        if device == "cuda":
            rows[name]["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        outputs[name] = out
        print(f"{name:<18} {seconds:7.2f} s  {args.seconds / seconds:7.1f}x real time"
              + (f"  peak {rows[name]['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in rows[name] else ""), flush=True)
    half_vs_full = band_snr_db(outputs["gpu_full_batch4"], outputs["gpu_half_batch4"], sr)
    gpu_vs_cpu = band_snr_db(outputs["cpu_full_batch4"], outputs["gpu_full_batch4"], sr)
    print(f"restored band, half vs full precision: {half_vs_full:.1f} dB signal to difference; "
          f"GPU vs CPU in full precision: {gpu_vs_cpu:.1f} dB")
    result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
              "machine": platform.machine(), "track_seconds": args.seconds, "parameters": parameter_count(model),
              "runs": rows, "band_snr_db": {"half_vs_full": half_vs_full, "gpu_vs_cpu": gpu_vs_cpu}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
