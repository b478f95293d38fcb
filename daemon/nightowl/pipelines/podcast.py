"""The podcast pipeline: speech cleaned, speakers told apart, words transcribed with times;
SRT, WebVTT, JSON and text transcripts and a loudness-normalised master.

Stages, each checkpointed in the job's work folder (pipelines/checkpoints.py), so a job
killed mid-way resumes at the stage it was in:

1. decode     the original (decoded again for the master: it is let go while the models
              only need 16 kHz mono, an hour of stereo being 1.3 GB); 16 kHz mono for them
2. separate   voice from music bed (Demucs) when there is music under the speech
3. denoise    DeepFilterNet3 on the voice, unless it is clean studio speech
4. vad        where the speech is (silero), to bound and check the transcription
5. diarize    who speaks when (pyannote); without a model the transcript is unlabelled
6. transcribe words with times (faster-whisper); hallucinations dropped
7. write      speakers onto words, transcripts, master, then the report

Models load one at a time and are released before the next stage, so peak memory is
that of the largest model, not of all of them.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .. import __version__
from ..audio.decode import decode
from ..audio.probe import probe
from ..audio.tags import Tags, read_tags, write_tags
from ..classify.speech import mono16k
from ..outputs import atomic_output, audio_check, write_json
from ..podcast.turns import Turn
from . import PodcastParams
from .checkpoints import Checkpoints, work_key
from .context import JobContext

NAME = "podcast"
MODEL_RATE = 16000  # what the speech models take (mono16k)
MASTER_SUBTYPE = "PCM_24"
# share of the progress bar each stage takes (roughly its share of the time on a CPU)
WEIGHTS = {"decode": 0.03, "separate": 0.15, "denoise": 0.15, "vad": 0.02, "diarize": 0.15,
           "transcribe": 0.45, "write": 0.05}
MUSIC_UNDER_SPEECH = 0.5  # the classifier's music_presence from which a bed is separated
# where the voice and the speech come from, newest first (see _latest)
VOICE = (("separate", "voice"),)
SPEECH = (("denoise", "speech"), *VOICE)


class PodcastError(Exception):
    """The job cannot be done (for example: no Whisper model can be loaded)."""


def _torch_device(ctx: JobContext) -> str:
    if ctx.torch_device == "cpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _release(device: str) -> None:
    """Free a stage's model before the next one loads."""
    gc.collect()
    _trim_heap()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the system. glibc keeps what a stage freed
    for reuse, and after Whisper that is a few hundred MB, which the write stage, holding
    the original again, would stack on top of."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def music_heard(ctx: JobContext, audio: np.ndarray, sample_rate: int) -> tuple[bool, float]:
    """Is there music under the speech? The classifier's answer when it ran, else listened to now."""
    presence = (ctx.evidence.get("speech") or {}).get("music_presence")
    if presence is None:
        from ..audio.decode import excerpt_starts
        from ..classify.speech import speech_features

        duration = len(audio) / sample_rate
        length = min(30.0, duration)
        excerpts = [audio[int(s * sample_rate):int((s + length) * sample_rate)]
                    for s in excerpt_starts(duration, 4, length)]
        presence = speech_features(excerpts, sample_rate).get("music_presence", 0.0)
    return float(presence) >= MUSIC_UNDER_SPEECH, float(presence)


class _Progress:
    """Maps a stage's own 0..1 onto the job's progress bar."""

    def __init__(self, report: Callable[[str, float | None], None]) -> None:
        self.report = report
        self.base = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[Callable[[float], None]]:
        weight = WEIGHTS[name]
        base = self.base
        self.report(name, base)
        yield lambda f: self.report(name, base + weight * min(max(f, 0.0), 1.0))
        self.base = base + weight


def _separate(ctx: JobContext, params: PodcastParams, audio: np.ndarray, sr: int, device: str,
              tick: Callable[[float], None]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if params.separate == "never":
        return {"ran": False, "note": "separation is off (separate = \"never\")"}, {}
    presence = None
    if params.separate == "auto":
        heard, presence = music_heard(ctx, audio, sr)
        if not heard:
            return {"ran": False, "music_presence": round(presence, 3),
                    "note": "no music heard under the speech; nothing to separate"}, {}
    from ..podcast import separate as sep

    try:
        model = sep.load_model(params.demucs_model, models_dir=ctx.models_dir, device=device)
    except sep.SeparateError as exc:
        return {"ran": False, "music_presence": presence,
                "note": f"music bed not separated: {exc}"}, {}
    try:
        voice, bed = sep.separate(model, audio, sr, device=device, progress=tick)
        description = sep.model_description(model, params.demucs_model)
    finally:
        del model
        _release(device)
    return ({"ran": True, "music_presence": presence, "model": description,
             "note": "voice separated from the music bed"}, {"voice": voice, "bed": bed})


def _denoise(params: PodcastParams, voice: np.ndarray, voice16k: Callable[[], np.ndarray], sr: int,
             tick: Callable[[float], None]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from ..podcast import denoise as dn
    from ..podcast.vad import speech_probabilities

    if params.denoise == "off":
        return {"ran": False, "note": "denoising is off (denoise = \"off\")"}, {}
    floor = None
    if params.denoise == "auto":
        speech16k = voice16k()
        floor = dn.noise_floor_db(speech16k, speech_probabilities(speech16k) >= 0.5)
        if not dn.needs_denoise(floor):
            return {"ran": False, "noise_floor_db": round(floor, 1),
                    "note": f"clean speech (noise floor {floor:.0f} dB under the voice); not denoised"}, {}
    clean = dn.denoise(voice, sr, strength_db=params.denoise_strength_db, progress=tick)
    return ({"ran": True, "noise_floor_db": None if floor is None else round(floor, 1),
             "strength_db": params.denoise_strength_db, "model": dn.MODEL_VERSION,
             "note": "speech denoised with DeepFilterNet3"}, {"speech": clean})


def _vad(speech16k: np.ndarray) -> dict[str, Any]:
    from ..podcast.vad import find_speech

    spans, clips = find_speech(speech16k)
    return {"spans": spans, "clips": clips, "speech_seconds": round(sum(b - a for a, b in spans), 2)}


def _diarize(ctx: JobContext, params: PodcastParams, speech16k: np.ndarray, device: str) -> dict[str, Any]:
    if not params.diarize:
        return {"ran": False, "turns": [], "note": "diarization is off; the transcript is unlabelled"}
    from ..podcast import diarize as dz

    try:
        pipeline = dz.load_pipeline(params.diarization_model, models_dir=ctx.models_dir, device=device)
    except dz.DiarizeError as exc:
        return {"ran": False, "turns": [], "note": f"speakers not told apart, the transcript is unlabelled: {exc}"}
    try:
        turns = dz.diarize(pipeline, speech16k, MODEL_RATE, num_speakers=params.num_speakers,
                           min_speakers=params.min_speakers, max_speakers=params.max_speakers)
        description = dz.pipeline_description(pipeline)
    finally:
        del pipeline
        _release(device)
    return {"ran": True, "turns": [list(t) for t in turns], "model": description,
            "speakers": len({t.speaker for t in turns}), "note": "speakers from pyannote"}


def _transcribe(ctx: JobContext, params: PodcastParams, speech16k: np.ndarray, vad: dict[str, Any], device: str,
                tick: Callable[[float], None]) -> dict[str, Any]:
    from ..podcast import transcribe as tr

    if not vad["clips"]:  # no speech heard: Whisper is not loaded, fetched or tried on the GPU
        return {**tr.Transcript([], params.language or "", 0.0, []).to_dict(),
                "model": {"source": params.whisper_model, "ran": False, "note": "no speech found"}}
    why_not_gpu = None
    try:
        if device == "cuda":
            model, why_not_gpu = tr.load_model_for_gpu(params.whisper_model, models_dir=ctx.models_dir,
                                                       compute_type=params.compute_type)
        else:
            model = tr.load_model(params.whisper_model, models_dir=ctx.models_dir, device=device,
                                  compute_type=params.compute_type)
    except tr.TranscribeError as exc:
        raise PodcastError(str(exc)) from exc
    if why_not_gpu is not None:
        device = "cpu"
        print(f"Whisper runs on the CPU: CTranslate2 cannot use the GPU ({why_not_gpu})", file=sys.stderr)
    try:
        batch = params.batch_size or (8 if device == "cuda" else 1)
        spans = [tuple(s) for s in vad["spans"]]
        clips = [tuple(c) for c in vad["clips"]]
        result = tr.transcribe(model, speech16k, clips, spans, language=params.language,
                               beam_size=params.beam_size, batch_size=batch, progress=tick)
        description = tr.model_description(model, params.whisper_model, ctx.models_dir)
    finally:
        del model
        _release(device)
    asked = None if why_not_gpu else params.compute_type  # a fallback runs the CPU's default
    model_facts = {**description, "device": device, "compute_type": tr.compute_type_for(device, asked),
                   "batch_size": batch}
    if why_not_gpu is not None:
        model_facts["gpu_unusable"] = why_not_gpu
    return {**result.to_dict(), "model": model_facts}


def _source(work: Checkpoints, sources: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """The first saved (stage, array) of `sources`; None means the original."""
    return next((found for found in sources if work.has_array(*found)), None)


class _Original:
    """The input decoded at its own rate, for the stages that need it (separation,
    denoising, the master): let go while only the models' 16 kHz mono is needed, and
    decoded again when it is needed after that (seconds an hour, against 1.3 GB an hour
    of stereo held all through transcription)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._audio: np.ndarray | None = None
        self.sample_rate = 0

    def samples(self) -> np.ndarray:
        if self._audio is None:
            self._audio, self.sample_rate = decode(self.path)
        return self._audio

    def let_go(self) -> None:
        self._audio = None


def _latest(work: Checkpoints, original: _Original, sources: tuple[tuple[str, str], ...]) -> np.ndarray:
    """The voice is the separated one if there is one, the speech the denoised voice if there
    is one: the newest of `sources` that a stage saved, else the original."""
    found = _source(work, sources)
    return original.samples() if found is None else work.array(*found)


def _mix(speech: np.ndarray, bed: np.ndarray | None, params: PodcastParams) -> np.ndarray:
    """The master before loudness: the cleaned speech, plus the bed at its level when one was
    separated (the speech alone is used as it lies, memory-mapped or not)."""
    if bed is None:
        return speech
    return np.asarray(speech, dtype=np.float32) + np.asarray(bed, dtype=np.float32) * np.float32(
        10 ** (params.bed_level_db / 20))


def _master_tags(ctx: JobContext, loudness: dict[str, float]) -> Tags:
    tags = read_tags(ctx.input)
    fields = {k: list(v) for k, v in tags.fields.items()}
    fields["NIGHTOWL_PODCAST"] = [f"cleaned and loudness-normalised by nightowl {__version__}"]
    fields["NIGHTOWL_LOUDNESS"] = [f"{loudness['lufs']:.1f} LUFS, {loudness['true_peak_dbtp']:.1f} dBTP"]
    return Tags(fields=fields, pictures=tags.pictures)


def _write_master(ctx: JobContext, params: PodcastParams, mix: np.ndarray, loud: Any, sr: int,
                  tags: Tags | None) -> list[Path]:
    """FLAC (and lossy copies) written a block at a time with the loudness gain applied."""
    from ..audio.encode import encode_blocks

    channels = 1 if mix.ndim == 1 else mix.shape[1]
    outputs = []
    dest = ctx.output_path(".flac")
    with atomic_output(dest, audio_check(len(mix), channels, sr)) as tmp:
        with sf.SoundFile(str(tmp), "w", sr, channels, subtype=MASTER_SUBTYPE, format="FLAC") as out:
            for block in loud.blocks(mix):
                out.write(block)
        if tags is not None:
            write_tags(tmp, tags)
    outputs.append(dest)
    for kind in params.master_formats:
        dest = ctx.output_path(f".{kind}")
        with atomic_output(dest, _decodes) as tmp:
            encode_blocks(loud.blocks(mix), sr, channels, tmp, kind)
            if tags is not None:
                write_tags(tmp, Tags(fields=tags.fields, pictures=tags.pictures))
        outputs.append(dest)
    return outputs


def _decodes(path: Path) -> None:
    from ..audio.decode import DecodeError
    from ..outputs import OutputError

    try:
        audio, _ = decode(path, duration=1.0)
    except DecodeError as exc:
        raise OutputError(f"{path.name}: does not decode: {exc}") from exc
    if audio.size == 0:
        raise OutputError(f"{path.name}: holds no audio")


def _transcript_json(ctx: JobContext, segments: list[Any], stages: dict[str, dict[str, Any]],
                     names: dict[str, str]) -> dict[str, Any]:
    from ..podcast.speakers import speakers_in_order

    transcript = stages["transcribe"]
    models = {"transcription": transcript["model"]}
    for stage, key in (("diarize", "diarization"), ("separate", "separation"), ("denoise", "denoising")):
        if stages[stage].get("ran"):
            models[key] = stages[stage].get("model")
    return {
        "file": ctx.rel_path,
        "language": transcript["language"],
        "language_probability": transcript["language_probability"],
        "speakers": [{"id": s, "name": names.get(s, s)} for s in
                     speakers_in_order(segments)] if stages["diarize"].get("ran") else [],
        "segments": [s.to_dict() for s in segments],
        "models": models,
        "notes": [stages[s]["note"] for s in ("separate", "denoise", "diarize") if stages[s].get("note")],
        "nightowl": __version__,
    }


def plan(ctx: JobContext) -> dict[str, Any]:
    """What a run would do and which models it would use, without loading any
    (`nightowl process --dry-run`)."""
    from ..podcast import diarize as dz
    from ..podcast import transcribe as tr

    params = PodcastParams.model_validate(ctx.params)
    info = probe(ctx.input)
    out: dict[str, Any] = {"input": str(ctx.input), "outputs_under": str(ctx.output_path(".flac").parent),
                           "from": f"{info.codec} {info.sample_rate} Hz {info.channels} ch {info.duration:.0f} s"}
    if ctx.already_done(ctx.output_path(".podcast.json")) is not None:
        return {**out, "action": "skip", "reason": "already done with these parameters"}
    whisper, local = tr.resolve(params.whisper_model, ctx.models_dir)
    out["transcription"] = {"model": params.whisper_model, "from": whisper if local else "the hub (download)"}
    if params.diarize:
        pipe, local = dz.resolve(params.diarization_model, ctx.models_dir)
        out["diarization"] = {"model": params.diarization_model, "from": pipe if local else "the hub (gated: token)"}
    out["separation"] = params.separate if params.separate != "auto" else "when music is heard under the speech"
    out["denoise"] = params.denoise
    out["master"] = params.master
    return {**out, "action": "run podcast"}


def run(ctx: JobContext) -> list[str]:
    params = PodcastParams.model_validate(ctx.params)
    report_path = ctx.output_path(".podcast.json")
    done = ctx.skip_if_done(report_path)
    if done is not None:
        return done

    key = work_key(NAME, ctx.fingerprint, ctx.params)
    scratch = None
    if ctx.work_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="nightowl-podcast-")
    work = Checkpoints(Path(scratch.name if scratch else ctx.work_dir) / key, key)  # type: ignore[arg-type]
    try:
        return _run(ctx, params, work, report_path)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _run(ctx: JobContext, params: PodcastParams, work: Checkpoints, report_path: Path) -> list[str]:
    device = _torch_device(ctx)
    bar = _Progress(ctx.progress)
    timings: dict[str, float] = {}
    stages: dict[str, dict[str, Any]] = {}

    def timed(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 3)

    # 1. decode: the input itself is this stage's checkpoint; decoding is cheap and exact
    with bar.stage("decode"):
        t = time.perf_counter()
        info = probe(ctx.input)
        original = _Original(ctx.input)
        samples = original.samples()
        sr, duration = original.sample_rate, len(samples) / original.sample_rate
        if samples.size == 0:
            raise PodcastError(f"{ctx.input.name}: no audio samples")
        del samples  # held by `original` only, so that letting it go frees it
        timed("decode", t)

    # what the models hear, made once: the voice as it is when denoising is skipped
    made16k: dict[tuple[str, str] | None, np.ndarray] = {}

    def at16k(sources: tuple[tuple[str, str], ...]) -> np.ndarray:
        key = _source(work, sources)
        if key not in made16k:
            made16k[key] = mono16k(np.asarray(_latest(work, original, sources)), sr)
        return made16k[key]

    for name in ("separate", "denoise", "vad", "diarize", "transcribe"):
        with bar.stage(name) as tick:
            if work.done(name):
                stages[name] = {**work.data(name), "resumed": True}
                continue
            t = time.perf_counter()
            arrays: dict[str, np.ndarray] = {}
            if name == "separate":
                data, arrays = _separate(ctx, params, original.samples(), sr, device, tick)
            elif name == "denoise":
                data, arrays = _denoise(params, np.asarray(_latest(work, original, VOICE)),
                                        lambda: at16k(VOICE), sr, tick)
            else:
                speech16k = at16k(SPEECH)
                original.let_go()  # the models need only speech16k; the master decodes it again
                for other in [k for k in made16k if k != _source(work, SPEECH)]:
                    del made16k[other]
                if name == "vad":
                    data = _vad(speech16k)
                elif name == "diarize":
                    data = _diarize(ctx, params, speech16k, device)
                else:
                    data = _transcribe(ctx, params, speech16k, work.data("vad"), device, tick)
            timed(name, t)
            work.save(name, {**data, "seconds": timings[name]}, arrays)
            stages[name] = {**data, "seconds": timings[name]}

    made16k.clear()  # the models are done: the master needs the original rate
    _trim_heap()
    with bar.stage("write"):
        t = time.perf_counter()
        outputs = _write_outputs(ctx, params, work, stages, original, sr)
        timed("write", t)

    summary = {name: {k: v for k, v in data.items() if k not in ("turns", "segments", "spans", "clips", "dropped")}
               for name, data in stages.items()}
    report = {
        "file": ctx.rel_path,
        "outputs": [str(p) for p in outputs],
        "stages": summary,
        "dropped_as_hallucination": stages["transcribe"].get("dropped", []),
        "probe": info.to_dict(),
        "timings": timings,
        "duration_s": round(duration, 3),
        "processed_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "job": ctx.job_record(NAME, outputs),
    }
    write_json(report_path, report)
    work.remove()
    ctx.progress("done", 1.0)
    return [str(report_path), *map(str, outputs)]


def _write_outputs(ctx: JobContext, params: PodcastParams, work: Checkpoints, stages: dict[str, dict[str, Any]],
                   original: _Original, sr: int) -> list[Path]:
    from ..podcast import formats
    from ..podcast.speakers import assign_speakers, name_speakers
    from ..podcast.transcribe import Transcript

    transcript = Transcript.from_dict(stages["transcribe"])
    turns = [Turn(float(a), float(b), str(s)) for a, b, s in stages["diarize"].get("turns", [])]
    segments = assign_speakers(transcript.segments, turns) if turns else transcript.segments
    segments = name_speakers(segments, params.speaker_names)

    outputs: list[Path] = []
    writers = {"srt": formats.to_srt, "vtt": formats.to_vtt, "txt": formats.to_text}
    for kind in params.transcripts:
        dest = ctx.output_path(f".{kind}")
        if kind == "json":
            write_json(dest, _transcript_json(ctx, segments, stages, params.speaker_names))
        else:
            with atomic_output(dest) as tmp:
                tmp.write_text(writers[kind](segments), encoding="utf-8")
        outputs.append(dest)

    if params.master:
        speech = _latest(work, original, SPEECH)
        bed = work.array("separate", "bed") if work.has_array("separate", "bed") else None
        from ..podcast.loudness import default_target, normalise

        mix = _mix(speech, bed, params)
        loud = normalise(mix, sr, params.target_lufs, params.true_peak_dbtp)
        stages["master"] = {**loud.to_dict(), "target_lufs": params.target_lufs if params.target_lufs is not None
                            else default_target(1 if mix.ndim == 1 else mix.shape[1]),
                            "bed_level_db": params.bed_level_db if bed is not None else None}
        tags = _master_tags(ctx, loud.to_dict()) if params.tags else None
        outputs += _write_master(ctx, params, mix, loud, sr, tags)
    return outputs
