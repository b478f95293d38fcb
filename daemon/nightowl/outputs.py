"""Writing results safely: a temporary name in the destination folder, fsync, check, rename."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

TMP_MARK = ".nightowl-tmp"


class OutputError(Exception):
    """An output failed its check; nothing was put in place."""


# a file name may hold 255 bytes (ext4, btrfs, XFS, ZFS); the temporary name beside an
# output adds a dot, TMP_MARK and a process id, so outputs keep this much room for it
NAME_MAX = 255
TMP_ROOM = 32


def fitted_name(stem: str, suffix: str) -> str:
    """stem + suffix, the stem shortened where the name would be too long for the file
    system (a long classical title, or one in a script of three bytes a character): cut
    at a character boundary, with a hash of the whole stem so two long names that begin
    alike stay apart. The same input always gives the same name."""
    budget = NAME_MAX - TMP_ROOM - len(suffix.encode())
    raw = stem.encode("utf-8", errors="surrogateescape")
    if len(raw) <= budget:
        return stem + suffix
    tag = "~" + hashlib.blake2b(raw, digest_size=4).hexdigest()
    head = raw[: budget - len(tag)].decode("utf-8", errors="ignore")  # a cut multi-byte character is dropped
    return head + tag + suffix


def output_key(folder: str, rel_path: str) -> str:
    """What two inputs' outputs would collide on: the rule's output folder, the input's
    folder in its inbox and its name without the extension. Case folded: a share on a
    case-insensitive file system holds only one of "Song.flac" and "song.flac"."""
    rel = PurePosixPath(rel_path)
    return str(PurePosixPath(folder or ".") / rel.parent / rel.stem).casefold()


def output_name(rel_path: str, taken: Collection[str]) -> str:
    """The name (without extension) the outputs of the input at `rel_path` take: its own
    name, or where other inputs' outputs already take that (song.mp3 beside song.m4a both
    restored to song.flac, or one path in two inboxes), its name with its extension in
    brackets, "song (m4a)", then "song (m4a 2)" and so on. `taken`: the names other
    inputs' outputs at the same place already have."""
    rel = PurePosixPath(rel_path)
    used = {t.casefold() for t in taken}
    ext = rel.suffix.lstrip(".").lower()
    tag = f"{ext} " if ext else ""
    candidates = [rel.stem] + ([f"{rel.stem} ({ext})"] if ext else [])
    candidates += (f"{rel.stem} ({tag}{n})" for n in range(2, len(used) + 3))
    return next(c for c in candidates if c.casefold() not in used)


def mirror_path(output_root: Path, folder: str, rel_path: str, suffix: str, name: str | None = None) -> Path:
    """Where an output of the input at `rel_path` (inside its inbox) goes: the tree is mirrored.

    `suffix` replaces the extension, e.g. ".lossless.json"; `name`, where given, the
    input's name (see `output_name`); a name too long for the file system is shortened
    (`fitted_name`). The result is always inside the output root: a path that would
    leave it raises ValueError.
    """
    rel = Path(rel_path)
    name = fitted_name(name or rel.stem, suffix)
    dest = (output_root / folder / rel.parent / name).resolve()
    root = output_root.resolve()
    if root not in dest.parents:
        raise ValueError(f"output path {dest} would leave the output root {root}")
    return dest


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clear_stale_temporaries(dest: Path) -> None:
    """Remove temporary files a killed job left beside `dest`."""
    if dest.parent.is_dir():
        for stale in dest.parent.glob(f".{dest.stem}{TMP_MARK}-*{dest.suffix}"):
            stale.unlink(missing_ok=True)


# under this much free space the output and state folders get a warning (doctor,
# status): a night's restored albums (24-bit FLAC) and podcast masters take GiBs
LOW_SPACE = 1 << 30


def nearest_existing(path: Path) -> Path:
    """`path`, or its nearest parent that exists (a folder not made yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_space(path: Path) -> int | None:
    """Bytes free to this user on the file system `path` is (or will be) on; None where
    that cannot be read."""
    try:
        return shutil.disk_usage(nearest_existing(path)).free
    except OSError:
        return None


# a disk with less than this free when a write failed is taken to be full: libsndfile
# and some other writers report a full disk only as "System error", without an errno
FULL_BYTES = 1 << 20


def _disk_full(folder: Path, exc: BaseException) -> int | None:
    """The bytes free on `folder`'s file system where `exc` looks like a full disk (or
    quota), else None. Asked before the temporary file is removed: it holds the space."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return free
    return free if free < FULL_BYTES and not isinstance(exc, OutputError) else None


@contextmanager
def atomic_output(dest: Path, check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success fsync it, check it, rename it into place.

    On any error the temporary file is removed and `dest` is left as it was; a full disk
    is said in those words (OutputError), whatever the writer raised.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix: writers (matplotlib, soundfile) pick the format from it
    tmp = dest.parent / f".{dest.stem}{TMP_MARK}-{os.getpid()}{dest.suffix}"
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except Exception as exc:
        free = _disk_full(dest.parent, exc)
        if free is None:
            raise
        raise OutputError(f"no space left on the disk of {dest.parent} ({free // 1024} KiB free) while writing "
                          f"{dest.name}: nothing was put in place ({type(exc).__name__}: {exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)


def check_json(path: Path) -> None:
    try:
        json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise OutputError(f"{path.name}: not valid JSON: {exc}") from exc


def check_png(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(8)
    if head != b"\x89PNG\r\n\x1a\n" or path.stat().st_size < 100:
        raise OutputError(f"{path.name}: not a complete PNG image")


def write_json(dest: Path, data: Any) -> None:
    with atomic_output(dest, check_json) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def audio_check(frames: int, channels: int, sample_rate: int) -> Callable[[Path], None]:
    """A check for `atomic_output`: the file decodes, with the length and layout written."""

    def check(path: Path) -> None:
        import soundfile as sf  # only pipelines that write audio pay for it

        try:
            info = sf.info(str(path))
        except RuntimeError as exc:
            raise OutputError(f"{path.name}: does not decode: {exc}") from exc
        if (info.frames, info.channels, info.samplerate) != (frames, channels, sample_rate):
            raise OutputError(f"{path.name}: wrote {info.frames} frames x {info.channels} ch at "
                              f"{info.samplerate} Hz, expected {frames} x {channels} at {sample_rate}")

    return check
