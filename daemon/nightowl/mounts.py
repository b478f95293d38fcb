"""Which filesystem a folder is on: inotify sees nothing other machines write to a share.

An inbox on NFS or SMB that is watched with inotify (`poll = false`, the default)
sees the files this machine writes there and none of those the NAS itself or another
machine writes, which is most of them: they would wait for the look every
`rescan_minutes`. `nightowl doctor` and the daemon's start say so.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# filesystems whose files other machines write (FUSE ones by their FUSE type); a
# FUSE filesystem over local disks (mergerfs) passes this machine's writes to inotify
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs", "lustre", "gpfs", "beegfs",
    "ocfs2", "gfs2", "davfs", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.glusterfs", "fuse.cephfs",
    "fuse.smbnetfs", "fuse.davfs2", "fuse.juicefs", "fuse.gcsfuse",
})
MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    r"""mountinfo writes space, tab, newline and backslash in paths as \040, \011, \012, \134."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) of each line of /proc/PID/mountinfo: the mount
    point is its fifth field, the type the first after the lone "-"."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) > sep + 1:
            mounts.append((_unescape(fields[4]), fields[sep + 1]))
    return mounts


def filesystem_of(path: str | Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem `path` is on (the last mount over its longest mount
    point prefix), None where that cannot be read. Symlinks in `path` are followed:
    ask only of a folder that answers (a share whose server is down blocks the lookup)."""
    try:
        text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
        real = os.path.realpath(path)
    except OSError:
        return None
    best, kind = -1, None
    for point, fstype in parse_mountinfo(text):
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:  # later lines mount over earlier ones
            best, kind = len(point), fstype
    return kind


def network_share(path: str | Path, mountinfo: str | None = None) -> str | None:
    """The filesystem type where `path` is on a network share, else None."""
    kind = filesystem_of(path, mountinfo)
    return kind if kind in NETWORK_FILESYSTEMS else None


def inotify_blind_spot(name: str, path: Path, fstype: str) -> str:
    return (f"inbox {name}: {path} is on a network share ({fstype}): inotify does not see files that other "
            "machines write there, so they wait for the look every rescan_minutes: set poll = true for it")
