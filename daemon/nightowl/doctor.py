"""`nightowl doctor`: checks a user can act on."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Inbox, Settings
from .devices import gpu_present
from .mounts import inotify_blind_spot, network_share
from .outputs import LOW_SPACE, free_space, nearest_existing
from .rules import RulesError, load_rules
from .watch import NOT_ANSWERING, Reach

if TYPE_CHECKING:
    from .pipelines import PodcastParams

DECODERS = ["flac", "alac", "wavpack", "mp3float", "aac", "libopus", "opus", "vorbis", "wmav2", "ape"]


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # ok | warn | fail
    message: str


def _writable(path: Path) -> bool:
    return os.access(nearest_existing(path), os.W_OK)  # a folder `nightowl run` makes later: its parent


def _space(name: str, path: Path) -> Check:
    if not _writable(path):
        return Check(name, "fail", f"{path} not writable")
    free = free_space(path)
    if free is None:
        return Check(name, "warn", f"{path} writable; its free space cannot be read")
    if free < LOW_SPACE:
        return Check(name, "warn", f"{path} writable, but only {free / 2**20:.0f} MiB free: "
                                   "a job whose results do not fit fails (and is tried again later)")
    return Check(name, "ok", f"{path} writable, {free / 2**30:.1f} GiB free")


def run_checks(settings: Settings) -> list[Check]:
    out = [Check("config", "ok", "valid")]
    try:
        out.append(Check("rules", "ok", f"{len(load_rules(settings.rules))} rule(s) valid"))
    except RulesError as exc:
        out.append(Check("rules", "fail", str(exc)))
    # a share whose server is down blocks whoever touches it: asked with a time limit,
    # and a folder that does not answer is looked at no further
    there = Reach().all([settings.output, settings.state_dir, *(i.path for i in settings.inboxes)])
    for inbox in settings.inboxes:
        p = inbox.path
        if there[p] is None:
            out.append(Check(f"inbox {inbox.name}", "fail", f"{p} {NOT_ANSWERING}"))
        elif there[p]:  # a folder this user can read
            how = f"polled every {inbox.interval:g} s" if inbox.poll else "inotify"
            out.append(Check(f"inbox {inbox.name}", "ok", f"{p} readable ({how})"))
            share = None if inbox.poll else network_share(p)
            if share:
                out.append(Check(f"inbox {inbox.name}", "warn", inotify_blind_spot(inbox.name, p, share)))
        elif p.is_dir():
            out.append(Check(f"inbox {inbox.name}", "fail", f"{p} is not readable by this user"))
        elif inbox.poll:
            out.append(Check(f"inbox {inbox.name}", "fail", f"{p} does not exist (share not mounted?)"))
        else:
            out.append(Check(f"inbox {inbox.name}", "warn", f"{p} does not exist yet: nightowl run creates it"))
    out += [Check(name, "fail", f"{path} {NOT_ANSWERING}") if there[path] is None else _space(name, path)
            for name, path in (("output", settings.output), ("state", settings.state_dir))]
    out.append(_inotify([i for i in settings.inboxes if there[i.path]]))
    out.append(_decoders())
    gpu = gpu_present()
    if settings.device == "cuda" and not gpu:
        out.append(Check("gpu", "fail", "device = cuda but no usable NVIDIA GPU found"))
    else:
        out.append(Check("gpu", "ok", "NVIDIA GPU present" if gpu else "no GPU: pipelines run on the CPU"))
    out.append(Check("sqlite", "ok", f"SQLite {sqlite3.sqlite_version}"))
    out.extend(_podcast_models(settings))
    if gpu and settings.device != "cpu":
        out.extend(_whisper_on_gpu(settings))
    try:
        import systemd.daemon  # noqa: F401

        out.append(Check("systemd", "ok", "systemd-python installed (notify, journal fields)"))
    except ImportError:
        out.append(Check("systemd", "warn", "systemd-python not installed: plain sd_notify, no journal fields"))
    return out


def _podcast_params(settings: Settings) -> list[PodcastParams]:
    """The parameters of each podcast rule (none where the rules do not load: said above)."""
    from .pipelines import PodcastParams

    try:
        return [PodcastParams.model_validate(rule.action.params) for rule, _ in load_rules(settings.rules)
                if rule.action.pipeline == "podcast"]
    except RulesError:
        return []


def _podcast_models(settings: Settings) -> list[Check]:
    """Which podcast models are there to run offline, and which would need the hub."""
    from .podcast.fetch import wanted

    params = _podcast_params(settings)
    if not params:
        return []
    from .podcast import diarize, separate, transcribe

    out = []
    for item in wanted(params):
        if item.kind == "whisper":
            local = transcribe.resolve(item.name, settings.models_folder)[1]
        elif item.kind == "diarization":
            local = diarize.resolve(item.name, settings.models_folder)[1]
        else:
            cache = separate.hub_cache(settings.models_folder)
            local = cache is not None and cache.is_dir() and any(cache.iterdir())
        name = f"{item.kind} model"
        if local:
            out.append(Check(name, "ok", f"{item.name}: in {settings.models_folder}"))
        else:
            then = "fail without it" if item.kind == "whisper" else "skip the stage without it"
            out.append(Check(name, "warn", f"{item.name}: not fetched; podcast jobs download it when online and "
                                           f"{then}; `nightowl models fetch` gets it now"))
    return out


def _whisper_on_gpu(settings: Settings) -> list[Check]:
    """Can transcription use the GPU? CTranslate2 finds out only when it first multiplies."""
    from .podcast import transcribe

    sources = {p.whisper_model for p in _podcast_params(settings)}
    local = sorted(s for s in sources if transcribe.resolve(s, settings.models_folder)[1])
    if not local:
        return []  # no podcast rule, or its model is not here yet (said above)
    try:
        _, why = transcribe.load_model_for_gpu(local[0], models_dir=settings.models_folder)
    except transcribe.TranscribeError as exc:
        return [Check("whisper on gpu", "fail", str(exc))]
    if why is None:
        return [Check("whisper on gpu", "ok", f"{local[0]} runs on the GPU")]
    return [Check("whisper on gpu", "warn", f"CTranslate2 cannot use the GPU ({why}): podcast jobs transcribe "
                                             "on the CPU; `pip install 'nightowl[whisper-gpu]'` gives it the GPU "
                                             "(README, 'Whisper on a GPU')")]


def _inotify(inboxes: list[Inbox]) -> Check:
    """Folders inotify would watch (those of the `inboxes` that answer) against the limit."""
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())
    except OSError:
        return Check("inotify", "warn", "cannot read the inotify watch limit")
    folders = 0
    for inbox in inboxes:
        if not inbox.poll:
            folders += sum(1 for _ in os.walk(inbox.path))
    if folders * 2 > limit:
        return Check("inotify", "fail", f"{folders} folders to watch, limit {limit}: raise fs.inotify.max_user_watches")
    return Check("inotify", "ok", f"{folders} folder(s) watched, limit {limit}")


def _decoders() -> Check:
    import av

    have = set(av.codecs_available)
    missing = [d for d in DECODERS if d not in have]
    if missing:
        return Check("decoders", "warn", f"missing: {', '.join(missing)}")
    version = getattr(av, "ffmpeg_version_info", None) or ".".join(map(str, av.library_versions["libavcodec"]))
    return Check("decoders", "ok", f"FFmpeg {version} (PyAV {av.__version__}) decodes {', '.join(DECODERS)}")
