"""Which filesystem an inbox is on, from mountinfo: a share watched by inotify is said."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import run_daemon_while, wait_until, write_config
from nightowl import service
from nightowl.cli import main
from nightowl.config import load_settings
from nightowl.mounts import filesystem_of, network_share, parse_mountinfo
from nightowl.rules import load_rules
from nightowl.store import Store

MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 27 0:45 / /mnt/nas rw,relatime shared:20 - nfs4 nas:/volume1/music rw,vers=4.2
41 27 0:46 / /mnt/win\040share rw,relatime - cifs //nas/music rw,vers=3.1.1
42 27 0:47 / /srv/pool rw,relatime - fuse.mergerfs pool rw,user_id=0
43 40 8:17 / /mnt/nas/local rw,relatime - ext4 /dev/sdb1 rw
44 27 0:48 / /mnt/nas rw,relatime - xfs /dev/sdc1 rw
"""


def test_mountinfo_lines_give_mount_points_and_types() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert ("/mnt/nas", "nfs4") in mounts and ("/mnt/win share", "cifs") in mounts
    assert ("/", "ext4") in mounts and len(mounts) == 7


def test_the_longest_and_last_mount_over_a_path_decides() -> None:
    text = MOUNTINFO.replace("44 27 0:48 / /mnt/nas rw,relatime - xfs /dev/sdc1 rw\n", "")
    assert filesystem_of("/mnt/nas/Music/Artist", text) == "nfs4"
    assert filesystem_of("/mnt/nas/local/Music", text) == "ext4"  # a disk mounted inside the share
    assert filesystem_of("/mnt/nasty", text) == "ext4"  # a name that only starts like the share's
    assert filesystem_of("/mnt/win share/Music", text) == "cifs"
    assert filesystem_of("/mnt/nas/Music", MOUNTINFO) == "xfs"  # mounted over the share later


def test_network_shares_are_told_from_local_and_pooled_disks(tmp_path: Path) -> None:
    assert network_share("/mnt/nas/Music", MOUNTINFO.replace("44 27 0:48 / /mnt/nas rw,relatime - xfs /dev/sdc1 rw\n",
                                                             "")) == "nfs4"
    assert network_share("/mnt/win share", MOUNTINFO) == "cifs"
    assert network_share("/srv/pool/Music", MOUNTINFO) is None  # mergerfs over local disks: inotify sees writes
    assert network_share("/home/me/Music", MOUNTINFO) is None
    link = tmp_path / "music"
    link.symlink_to("/mnt/nas/Music")
    assert filesystem_of(link, MOUNTINFO) == "xfs"  # the link is followed
    assert filesystem_of(tmp_path) is not None  # this machine's own mountinfo reads


def test_doctor_and_the_daemon_say_an_inbox_on_a_share_needs_polling(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, settle=0.5)
    settings = load_settings(config)
    music = settings.inbox_named("music").path
    on_nfs = lambda path, mountinfo=None: "nfs4" if Path(path) == music else None  # noqa: E731
    monkeypatch.setattr("nightowl.doctor.network_share", on_nfs)
    result = CliRunner().invoke(main, ["--config", str(config), "doctor"])
    warning = next(line for line in result.output.splitlines() if "network share" in line)
    assert warning.startswith("WARN") and "nfs4" in warning and "set poll = true" in warning
    assert result.exit_code == 0, result.output

    monkeypatch.setattr(service, "network_share", on_nfs)
    daemon = service.Daemon(settings, load_rules(settings.rules))
    said: list[str] = []

    def scenario(store: Store) -> None:
        wait_until(lambda: any("set poll = true" in e["message"] for e in store.events()), 60)
        said.extend(e["message"] for e in store.events() if e["kind"] == "inbox")

    run_daemon_while(daemon, scenario)
    assert len(said) == 1 and f"inbox music: {music} is on a network share (nfs4)" in said[0], said
