"""Voice / bed separation with demucs: split a mix into the voice stem and everything else.

    model = load_model("htdemucs", models_dir=models_dir, device="cuda")
    voice, bed = separate(model, audio, sample_rate, device="cuda", progress=report)
    info = model_description(model, "htdemucs")
    del model                      # frees the weights; there is no other handle on them
    release_device_memory("cuda")  # optional: give cached CUDA blocks back to the driver

`load_model` takes a model name ("htdemucs", "htdemucs_ft", a legacy signature) or a local
folder laid out the way demucs's own `--repo` folders are (`demucs.repo.LocalRepo`):

    <folder>/<name>.yaml               a bag of models: `models: [<sig>, ...]`, optional
                                       `weights:` and `segment:`
    <folder>/<sig>-<sha256[:8]>.th     `demucs.states.serialize_model` packages saved with
                                       `torch.save` (the hash suffix is checked when present)

A name is looked up in `<models_dir>/demucs/` first, then in the HuggingFace cache (demucs
4.1 publishes its bags there) and torch hub's cache (the legacy AWS files). When neither cache
has it and the HuggingFace hub is offline (`HF_HUB_OFFLINE=1`), no download is attempted: a
`SeparateError` says how to get the model, straight away.

torch and demucs are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.resample import resample

DEFAULT_MODEL = "htdemucs"
OVERLAP = 0.25
BLOCK_S = 300.0  # seconds of audio separated at a time
FADE_S = 5.0  # overlap on each side of a block boundary, cross-faded

_OFFLINE_HINT = "run `nightowl models fetch` online or set demucs_model to a local folder"


class SeparateError(RuntimeError):
    """The separation model could not be loaded or applied."""


# ---------------------------------------------------------------------------------------
# loading


def load_model(source: str, *, models_dir: Path | None = None, device: str = "cpu") -> Any:
    """A demucs model (usually a `BagOfModels`) in eval mode on `device`.

    `source` is a local model folder (or a bag `.yaml` inside one), or a model name looked up
    in `models_dir / "demucs"`, then in the download caches, then downloaded (online only).
    """
    source = str(source)
    path = Path(source).expanduser()
    if path.is_dir():
        folder, name = path, _bag_name(path)
    elif path.is_file() and path.suffix in (".yaml", ".th"):
        folder, name = path.parent, _sig_of(path)
    elif _looks_like_path(source):
        raise SeparateError(f"demucs model folder {source} does not exist")
    else:
        folder, name = _local_folder_for(source, models_dir), source
    model = _load_local(folder, name) if folder is not None else _load_remote(source, models_dir)
    model.to(device)
    model.eval()
    return model


def _looks_like_path(source: str) -> bool:
    """A path that does not exist, as opposed to a model name (which may be `namespace/name`
    on the HuggingFace hub)."""
    return source.startswith((".", "~", os.sep)) or source.endswith((".yaml", ".th"))


def _sig_of(file: Path) -> str:
    """`htdemucs.yaml` -> `htdemucs`; `955717e8-8726e21a.th` -> `955717e8`."""
    return file.stem.rsplit("-", 1)[0] if file.suffix == ".th" else file.stem


def _bag_name(folder: Path) -> str:
    """Which model of a local folder to load: `<folder name>.yaml`, `htdemucs.yaml`, the only
    `.yaml`, or (no bag at all) the only `.th` model."""
    bags = sorted(p for p in folder.iterdir() if p.suffix == ".yaml")
    for preferred in (folder.name, DEFAULT_MODEL):
        if any(b.stem == preferred for b in bags):
            return preferred
    if len(bags) == 1:
        return bags[0].stem
    if bags:
        names = ", ".join(b.stem for b in bags)
        raise SeparateError(
            f"demucs model folder {folder} holds several bags ({names}); "
            "point to one of the .yaml files")
    weights = sorted(p for p in folder.iterdir() if p.suffix == ".th")
    if len(weights) == 1:
        return _sig_of(weights[0])
    raise SeparateError(
        f"demucs model folder {folder} holds no bag of models (<name>.yaml)"
        + (" and several .th files" if weights else " nor any .th model"))


def _local_folder_for(name: str, models_dir: Path | None) -> Path | None:
    """`models_dir/demucs` when it holds model `name` (a bag or a single `.th`), or
    `models_dir/demucs/<name>/` when that is a model folder."""
    if models_dir is None:
        return None
    root = Path(models_dir).expanduser() / "demucs"
    if not root.is_dir():
        return None
    if (root / f"{name}.yaml").is_file() or any(_sig_of(p) == name for p in root.glob("*.th")):
        return root
    if (root / name).is_dir() and any(p.suffix in (".yaml", ".th") for p in (root / name).iterdir()):
        return root / name
    return None


def _load_local(folder: Path, name: str) -> Any:
    from demucs.pretrained import get_model

    try:
        # With `repo=` demucs 4.1 uses LocalRepo/BagOnlyRepo only: no hub, no network.
        return get_model(name, repo=folder)
    except (Exception, SystemExit) as exc:  # demucs calls sys.exit() on some bad input
        raise SeparateError(f"cannot load demucs model {name!r} from {folder}: {exc}") from exc


def _hub_offline() -> bool:
    """Offline per the environment now, or per huggingface_hub (which reads it at import)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.is_offline_mode())


def _hf_model(name: str, *, local_only: bool, cache_dir: Path | None = None) -> Any:
    """`demucs.hf.get_hf_model`, optionally from the HuggingFace cache only (no request)."""
    import yaml
    from demucs.apply import BagOfModels
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
    from huggingface_hub import hf_hub_download

    namespace, _, short = name.rpartition("/")
    repo_id = f"{namespace or DEFAULT_NAMESPACE}/{hf_repo_name(short)}"

    def fetch(filename: str) -> str:
        return hf_hub_download(repo_id, filename, local_files_only=local_only,
                               cache_dir=str(cache_dir) if cache_dir else None)

    with open(fetch(f"{short}.yaml")) as file:
        bag = yaml.safe_load(file)
    models = [load_safetensors_model(fetch(f"{sig}.safetensors")) for sig in bag["models"]]
    return BagOfModels(models, bag.get("weights"), bag.get("segment"))


def hub_cache(models_dir: Path | None) -> Path | None:
    """Where `nightowl models fetch` keeps published Demucs models (a HuggingFace cache)."""
    return None if models_dir is None else Path(models_dir).expanduser() / "demucs" / "hub"


def fetch(name: str, models_dir: Path) -> Path:
    """Download a published model into the models folder, so it loads offline later."""
    _hf_model(name, local_only=False, cache_dir=hub_cache(models_dir))
    return hub_cache(models_dir)  # type: ignore[return-value]


def _load_remote(name: str, models_dir: Path | None = None) -> Any:
    """A published model: from the HuggingFace cache/hub, else the legacy AWS files (cached
    by torch hub). Offline with neither cache holding it: fail at once."""
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files
    from demucs.repo import AnyModelRepo, BagOnlyRepo, RemoteRepo

    offline = _hub_offline()
    hf_error: BaseException | None = None
    cache = hub_cache(models_dir)
    if cache is not None and cache.is_dir():
        try:  # fetched into the models folder earlier: no request at all
            return _hf_model(name, local_only=True, cache_dir=cache)
        except Exception:  # noqa: BLE001 - not there: the usual caches and the hub
            pass
    try:
        # Offline: the HuggingFace cache only, a miss raises at once without any request.
        return _hf_model(name, local_only=offline)
    except Exception as exc:  # noqa: BLE001 - any hub/cache miss: try the legacy files
        hf_error = exc

    urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
    sigs = _legacy_signatures(name, REMOTE_ROOT, urls)
    if sigs is None or any(sig not in urls for sig in sigs):
        if offline:
            raise SeparateError(f"demucs model {name!r} is not available offline; {_OFFLINE_HINT}")
        raise SeparateError(
            f"unknown demucs model {name!r} (not on the HuggingFace hub: {hf_error}); "
            "use a published name such as 'htdemucs' or a local model folder") from hf_error
    if offline and not all(_torch_hub_cached(urls[sig]) for sig in sigs):
        raise SeparateError(f"demucs model {name!r} is not available offline; {_OFFLINE_HINT}")

    model_repo = RemoteRepo(urls)
    repo = AnyModelRepo(model_repo, BagOnlyRepo(REMOTE_ROOT, model_repo))
    try:
        return repo.get_model(name)
    except (Exception, SystemExit) as exc:
        raise SeparateError(
            f"cannot load demucs model {name!r}: {exc}; {_OFFLINE_HINT}") from exc


def _legacy_signatures(name: str, remote_root: Path, urls: dict[str, str]) -> list[str] | None:
    """The signatures model `name` needs from the legacy repo, or None if it has no such model."""
    if name in urls:
        return [name]
    bag = remote_root / f"{name}.yaml"
    if not bag.is_file():
        return None
    import yaml

    return list(yaml.safe_load(bag.read_text())["models"])


def _torch_hub_cached(url: str) -> bool:
    import torch.hub

    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()


# ---------------------------------------------------------------------------------------
# separating


def separate(
    model: Any,
    audio: np.ndarray,
    sample_rate: int,
    *,
    voice_stem: str = "vocals",
    device: str = "cpu",
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(voice, bed): the `voice_stem` stem and the sum of all the others.

    `audio` is float (frames,) or (frames, channels) at `sample_rate`; both outputs are
    float32 with exactly its shape at the same rate. Audio is resampled (soxr HQ) to the
    model's rate and back; a mono input is duplicated to the model's channels and the stems
    averaged back to mono. An input whose channel count differs from the model's (other than
    mono) is separated from its downmix and the result is copied to every channel.

    `progress` gets fractions in [0, 1]: 0 first, one per processed chunk, 1 last. An exception
    it raises aborts the separation and propagates.
    """
    import torch
    from demucs.apply import apply_model

    sources = list(model.sources)
    if voice_stem not in sources:
        raise SeparateError(
            f"demucs model has no {voice_stem!r} stem (it has {', '.join(sources)})")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise SeparateError(f"audio must be (frames,) or (frames, channels), not {audio.shape}")
    frames = audio.shape[0]
    if progress is not None:
        progress(0.0)
    if frames == 0 or (audio.ndim == 2 and audio.shape[1] == 0):
        if progress is not None:
            progress(1.0)
        return np.zeros_like(audio), np.zeros_like(audio)
    if not np.all(np.isfinite(audio)):
        raise SeparateError("audio holds NaN or infinite samples")

    model_rate = int(model.samplerate)
    model_channels = int(model.audio_channels)
    x = audio[:, None] if audio.ndim == 1 else audio
    in_channels = x.shape[1]
    direct = in_channels == model_channels
    mix = x if direct else np.repeat(x.mean(axis=1, keepdims=True), model_channels, axis=1)
    mix = resample(mix, sample_rate, model_rate)

    wav = torch.from_numpy(np.ascontiguousarray(mix.T))  # (channels, samples)
    length = wav.shape[-1]
    ref = wav.mean(0)  # normalise as demucs's own separate.py / api.py do
    mean = ref.mean()
    std = (ref.std() if length > 1 else torch.zeros(())) + 1e-8

    k = sources.index(voice_stem)
    others = [i for i in range(len(sources)) if i != k]
    voice = np.zeros((length, model_channels), dtype=np.float32)
    bed = np.zeros((length, model_channels), dtype=np.float32)
    block, fade = int(BLOCK_S * model_rate), int(FADE_S * model_rate)
    starts = list(range(0, length, block)) if length > block + fade else [0]
    if len(starts) > 1 and length - starts[-1] < 4 * fade:
        starts.pop()  # a sliver at the end goes with the block before it
    total = sum(_chunk_count(model, min(length, s + block + fade) - max(0, s - fade)) for s in starts)
    done = [0]

    def callback(info: dict) -> None:
        if progress is not None and info.get("state") == "end" and total:
            done[0] += 1
            if done[0] < total:
                progress(done[0] / total)

    # long episodes go in blocks of a few minutes, so the stems of the whole episode never
    # sit in memory four times over; neighbouring blocks overlap and cross-fade
    for n, start in enumerate(starts):
        a = max(0, start - fade) if n else 0
        b = length if n == len(starts) - 1 else min(length, start + block + fade)
        with torch.inference_mode():
            out = apply_model(
                model, ((wav[:, a:b] - mean) / std)[None], shifts=0, split=True, overlap=OVERLAP,
                progress=False, device=device, num_workers=0, callback=callback)[0]
            out = out * std + mean  # (sources, channels, samples), on the CPU
            v = out[k].T.contiguous().float().cpu().numpy()
            r = (out[others].sum(0) if others else torch.zeros_like(out[k])).T.contiguous().float().cpu().numpy()
        del out
        w = np.ones(b - a, dtype=np.float32)
        if n:  # fade in over the overlap with the block before
            w[:2 * fade] = np.linspace(0, 1, 2 * fade, endpoint=False, dtype=np.float32)
        if n < len(starts) - 1:  # and out over the overlap with the one after
            w[-2 * fade:] = np.minimum(w[-2 * fade:], np.linspace(1, 0, 2 * fade, endpoint=False, dtype=np.float32))
        voice[a:b] += v * w[:, None]
        bed[a:b] += r * w[:, None]
    del wav

    results = []
    for stem in (voice, bed):
        stem = _fit_length(resample(stem, model_rate, sample_rate), frames)
        if not direct:
            stem = stem.mean(axis=1, keepdims=True)
            stem = stem if audio.ndim == 1 else np.repeat(stem, in_channels, axis=1)
        results.append(np.ascontiguousarray(stem.reshape(audio.shape), dtype=np.float32))
    if progress is not None:
        progress(1.0)
    return results[0], results[1]


def _fit_length(x: np.ndarray, frames: int) -> np.ndarray:
    if x.shape[0] >= frames:
        return x[:frames]
    return np.pad(x, ((0, frames - x.shape[0]), (0, 0)))


def _chunk_count(model: Any, length: int) -> int:
    """How many chunks `apply_model(split=True, shifts=0)` runs: one "end" callback each
    (0 if unknown)."""
    models = list(getattr(model, "models", [model]))
    total = 0
    for sub in models:
        segment = getattr(sub, "segment", None)
        if not segment:
            return 0
        stride = int((1 - OVERLAP) * int(model.samplerate * segment))
        if stride <= 0:
            return 0
        total += len(range(0, length, stride))
    return total


# ---------------------------------------------------------------------------------------
# reporting, freeing


def model_description(model: Any, source: str) -> dict:
    """What ran, for reports: source, stems, sample rate, channels, bag size, demucs version."""
    import demucs

    return {
        "source": str(source),
        "sources": list(model.sources),
        "samplerate": int(model.samplerate),
        "audio_channels": int(model.audio_channels),
        "models": len(getattr(model, "models", [model])),
        "demucs": demucs.__version__,
    }


def release_device_memory(device: str = "cpu") -> None:
    """After `del model`: return cached CUDA memory to the driver (a no-op on the CPU)."""
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
