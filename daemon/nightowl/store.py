"""The SQLite state: schema, migrations and every SQL statement nightowl runs.

Each arrow of the file flow is a row here, not an in-memory queue, so any
process can die between two steps and the next start carries on from the row.
One Store per thread (SQLite connections are not shared across threads).
"""

from __future__ import annotations

import errno
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("nightowl")


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            inbox TEXT NOT NULL,
            rel_path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            fingerprint TEXT NOT NULL,
            duplicate_of INTEGER REFERENCES files(id),
            state TEXT NOT NULL DEFAULT 'new',
            probe TEXT,
            class TEXT,
            confidence REAL,
            evidence TEXT,
            error TEXT,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX files_fingerprint ON files(fingerprint)")
    db.execute("CREATE INDEX files_inbox ON files(inbox, state)")
    db.execute(
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id),
            pipeline TEXT NOT NULL,
            rule TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            output_folder TEXT NOT NULL DEFAULT '',
            run_when TEXT NOT NULL DEFAULT 'now',
            device TEXT NOT NULL DEFAULT 'cpu',
            state TEXT NOT NULL DEFAULT 'queued',
            priority INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before REAL NOT NULL DEFAULT 0,
            lease_until REAL,
            worker_pid INTEGER,
            stage TEXT,
            progress REAL,
            error TEXT,
            outputs TEXT,
            timings TEXT,
            created REAL NOT NULL,
            started REAL,
            finished REAL,
            UNIQUE (file_id, pipeline, params)
        )"""
    )
    db.execute("CREATE INDEX jobs_claim ON jobs(state, device, run_when, priority DESC, id)")
    db.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            level TEXT NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            path TEXT,
            file_id INTEGER,
            job_id INTEGER,
            data TEXT
        )"""
    )
    db.execute("CREATE INDEX events_file ON events(file_id)")


@MIGRATIONS()
def m002_labels(db: Database) -> None:
    # a user's corrections, by content: they survive renames and serve as training labels
    db.execute(
        """CREATE TABLE labels (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL,
            class TEXT NOT NULL,
            created REAL NOT NULL
        )"""
    )


@MIGRATIONS()
def m003_models(db: Database) -> None:
    # trained checkpoints; the partial index lets at most one model of a kind be active
    db.execute(
        """CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            version TEXT NOT NULL,
            path TEXT NOT NULL,
            created TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',
            training TEXT NOT NULL DEFAULT '{}',
            active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
            registered REAL NOT NULL,
            UNIQUE (kind, version)
        )"""
    )
    db.execute("CREATE UNIQUE INDEX models_one_active ON models(kind) WHERE active = 1")


@MIGRATIONS()
def m004_job_content(db: Database) -> None:
    # the content a job is for: when the file at a path is replaced, its new content is
    # processed again (a job row per file, pipeline and parameters, taken up afresh)
    db.execute("ALTER TABLE jobs ADD COLUMN fingerprint TEXT")
    db.execute("UPDATE jobs SET fingerprint = (SELECT fingerprint FROM files WHERE files.id = jobs.file_id)")


@MIGRATIONS()
def m005_companions(db: Database) -> None:
    # lineage texts, cover art and the like were recorded as unreadable audio before
    # companions.py: they are companions of the music, noted and left alone
    from .companions import companion_kind

    rows = list(db.query("SELECT id, path FROM files WHERE state = 'unreadable'"))
    ids = [r["id"] for r in rows if companion_kind(r["path"]) is not None]
    for file_id in ids:
        db.execute("UPDATE files SET state = 'not_audio', error = NULL, class = NULL WHERE id = ?", [file_id])


@MIGRATIONS()
def m006_daemon(db: Database) -> None:
    # the running daemon, as `nightowl status` tells it: one row, a heartbeat while it runs
    db.execute(
        """CREATE TABLE daemon (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            started REAL NOT NULL,
            last_seen REAL NOT NULL,
            stopped REAL
        )"""
    )


@MIGRATIONS()
def m007_output_names(db: Database) -> None:
    # two inputs whose outputs would take one name (song.mp3 beside song.m4a, both restored
    # to song.flac; one path in two inboxes): each job keeps the name its outputs take,
    # chosen when it is first queued (see Store._name_outputs). Jobs from before took the
    # input's own name
    from .outputs import output_key

    db.execute("ALTER TABLE jobs ADD COLUMN output_key TEXT")
    db.execute("ALTER TABLE jobs ADD COLUMN output_name TEXT")
    rows = list(db.query("SELECT jobs.id, jobs.output_folder, files.rel_path FROM jobs"
                         " JOIN files ON files.id = jobs.file_id"))
    for r in rows:
        db.execute("UPDATE jobs SET output_key = ?, output_name = ? WHERE id = ?",
                   [output_key(r["output_folder"], r["rel_path"]), PurePosixPath(r["rel_path"]).stem, r["id"]])
    db.execute("CREATE INDEX jobs_output_key ON jobs(output_key)")


JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
NOT_AUDIO = "not_audio"  # a file's state where it is a companion of the music (companions.py)
# "gone" replaces a file's state, which its other columns still tell: a copy of another,
# unreadable (its error), classified (its class); otherwise it is taken in afresh (a
# companion or soundless file is told so again at once)
_STATE_BEFORE_GONE = ("CASE WHEN duplicate_of IS NOT NULL THEN 'duplicate' WHEN error IS NOT NULL THEN 'unreadable'"
                      " WHEN class IS NOT NULL THEN 'classified' ELSE 'new' END")


@dataclass(frozen=True)
class FileRow:
    id: int
    path: str
    inbox: str
    rel_path: str
    size: int
    mtime: float
    fingerprint: str
    duplicate_of: int | None
    state: str
    probe: dict[str, Any] | None
    file_class: str | None
    confidence: float | None
    evidence: dict[str, Any] | None
    error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileRow:
        return cls(
            id=row["id"],
            path=row["path"],
            inbox=row["inbox"],
            rel_path=row["rel_path"],
            size=row["size"],
            mtime=row["mtime"],
            fingerprint=row["fingerprint"],
            duplicate_of=row["duplicate_of"],
            state=row["state"],
            probe=_loads(row["probe"]),
            file_class=row["class"],
            confidence=row["confidence"],
            evidence=_loads(row["evidence"]),
            error=row["error"],
        )


@dataclass(frozen=True)
class Job:
    id: int
    file_id: int
    pipeline: str
    rule: str
    params: dict[str, Any]
    output_folder: str
    run_when: str
    device: str
    state: str
    attempts: int
    stage: str | None
    progress: float | None
    error: str | None
    outputs: list[str]
    fingerprint: str | None = None  # the content of the file it is for
    output_name: str | None = None  # the name its outputs take (see Store._name_outputs)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            id=row["id"],
            file_id=row["file_id"],
            pipeline=row["pipeline"],
            rule=row["rule"],
            params=json.loads(row["params"] or "{}"),
            output_folder=row["output_folder"],
            run_when=row["run_when"],
            device=row["device"],
            state=row["state"],
            attempts=row["attempts"],
            stage=row["stage"],
            progress=row["progress"],
            error=row["error"],
            outputs=json.loads(row["outputs"] or "[]"),
            fingerprint=row.get("fingerprint"),
            output_name=row.get("output_name"),
        )


def _at_or_under(paths: list[str]) -> tuple[str, list[str]]:
    """SQL matching a `path` column to files at `paths` or under them (folders); a % or _
    in a name matches only itself."""
    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    sql = " OR ".join("path = ? OR path LIKE ? ESCAPE '\\'" for _ in paths)
    return sql, [v for p in paths for v in (p, escaped(p.rstrip("/")) + "/%")]


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str:
    # canonical form: the same parameters always give the same text (dedupe key)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the state database cannot grow: its disk (or quota) is full."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class UnreadableDatabase(Exception):
    """The state database is not one SQLite can read (another file in its place, or damaged)."""


class Store:
    """All reads and writes of nightowl's state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30)
        self.db = Database(conn)
        try:
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            MIGRATIONS.apply(self.db)
        except sqlite3.DatabaseError as exc:
            # "file is not a database", "database disk image is malformed"; its subclasses
            # (a full disk, a lock) are passing troubles, said where they are met
            if type(exc) is not sqlite3.DatabaseError:
                raise
            conn.close()
            raise UnreadableDatabase(
                f"{path} is not a database SQLite can read ({exc}). Move it aside and nightowl starts a new one "
                "(taking every inbox file in again), or put back a copy from a backup") from exc

    def close(self) -> None:
        self.db.close()

    # -- files ---------------------------------------------------------------

    def file(self, file_id: int) -> FileRow | None:
        rows = list(self.db.query("SELECT * FROM files WHERE id = ?", [file_id]))
        return FileRow.from_row(rows[0]) if rows else None

    def file_by_path(self, path: str) -> FileRow | None:
        rows = list(self.db.query("SELECT * FROM files WHERE path = ?", [path]))
        return FileRow.from_row(rows[0]) if rows else None

    def files_by_fingerprint(self, fingerprint: str) -> list[FileRow]:
        rows = self.db.query("SELECT * FROM files WHERE fingerprint = ? ORDER BY id", [fingerprint])
        return [FileRow.from_row(r) for r in rows]

    def add_file(
        self,
        *,
        path: str,
        inbox: str,
        rel_path: str,
        size: int,
        mtime: float,
        fingerprint: str,
        duplicate_of: int | None = None,
        state: str | None = None,
        now: float | None = None,
    ) -> int:
        now = time.time() if now is None else now
        state = state or ("duplicate" if duplicate_of else "new")
        cur = self.db.execute(
            """INSERT INTO files (path, inbox, rel_path, size, mtime, fingerprint, duplicate_of,
                                  state, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [path, inbox, rel_path, size, mtime, fingerprint, duplicate_of, state, now, now],
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def move_file(self, file_id: int, *, path: str, inbox: str, rel_path: str, mtime: float) -> None:
        """A known file was renamed or moved inside the inboxes."""
        self.db.execute(
            "UPDATE files SET path = ?, inbox = ?, rel_path = ?, mtime = ?, last_seen = ?,"
            f" state = CASE WHEN state = 'gone' THEN {_STATE_BEFORE_GONE} ELSE state END WHERE id = ?",
            [path, inbox, rel_path, mtime, time.time(), file_id],
        )

    def come_back(self, file_id: int, *, size: int, mtime: float) -> None:
        """A file marked gone is at its path again, as it was: its state before it went
        ("new" where it had not been classified yet)."""
        self.db.execute(
            f"UPDATE files SET size = ?, mtime = ?, last_seen = ?, state = {_STATE_BEFORE_GONE}"
            " WHERE id = ? AND state = 'gone'",
            [size, mtime, time.time(), file_id],
        )

    def replace_file_content(self, file_id: int, *, size: int, mtime: float, fingerprint: str) -> None:
        """The file at a known path was overwritten with other content: classify it afresh."""
        self.db.execute(
            "UPDATE files SET size = ?, mtime = ?, fingerprint = ?, state = 'new', duplicate_of = NULL,"
            " probe = NULL, class = NULL, confidence = NULL, evidence = NULL, error = NULL,"
            " last_seen = ? WHERE id = ?",
            [size, mtime, fingerprint, time.time(), file_id],
        )

    def touch_file(self, file_id: int, size: int, mtime: float) -> None:
        self.db.execute(
            "UPDATE files SET size = ?, mtime = ?, last_seen = ? WHERE id = ?",
            [size, mtime, time.time(), file_id],
        )

    def set_classified(
        self, file_id: int, *, probe: dict[str, Any], file_class: str, confidence: float, evidence: dict[str, Any]
    ) -> None:
        self.db.execute(
            "UPDATE files SET state = 'classified', probe = ?, class = ?, confidence = ?, evidence = ?,"
            " error = NULL WHERE id = ?",
            [_dumps(probe), file_class, confidence, _dumps(evidence), file_id],
        )

    def set_unreadable(self, file_id: int, error: str, probe: dict[str, Any] | None = None) -> None:
        self.db.execute(
            "UPDATE files SET state = 'unreadable', error = ?, probe = ?, class = 'unknown' WHERE id = ?",
            [error, None if probe is None else _dumps(probe), file_id],
        )

    def set_not_audio(self, file_id: int, *, fingerprint: str, size: int | None = None,
                      mtime: float | None = None) -> None:
        """A companion file (lineage text, cover art: companions.py), or a file with no
        sound, as it is now (size and mtime: as recorded, where not given)."""
        self.db.execute(
            "UPDATE files SET state = ?, size = COALESCE(?, size), mtime = COALESCE(?, mtime), fingerprint = ?,"
            " duplicate_of = NULL, probe = NULL, class = NULL, confidence = NULL, evidence = NULL, error = NULL,"
            " last_seen = ? WHERE id = ?",
            [NOT_AUDIO, size, mtime, fingerprint, time.time(), file_id],
        )

    def mark_gone(self, file_ids: list[int]) -> None:
        for file_id in file_ids:
            self.db.execute("UPDATE files SET state = 'gone' WHERE id = ?", [file_id])

    def has_done_jobs(self) -> bool:
        """Whether any job has finished (and so written into the output folder)."""
        return self.db.execute("SELECT 1 FROM jobs WHERE state = 'done' LIMIT 1").fetchone() is not None

    def known_files(self, inbox: str) -> dict[str, tuple[int, int, float, str]]:
        """path -> (id, size, mtime, state) for every file of an inbox not marked gone."""
        # plain tuples, not a dict per row: an inbox may hold 100,000 files
        rows = self.db.execute(
            "SELECT path, id, size, mtime, state FROM files WHERE inbox = ? AND state != 'gone'", [inbox]
        )
        return {path: (file_id, size, mtime, state) for path, file_id, size, mtime, state in rows}

    def count_files(self) -> int:
        return next(self.db.query("SELECT count(*) AS n FROM files"))["n"]

    def classified_files(self, paths: list[str] | None = None) -> list[FileRow]:
        """Files taken in and classified (no duplicates, none gone), at or under `paths` where given."""
        match, args = _at_or_under(paths) if paths else ("1", [])
        rows = self.db.query(f"SELECT * FROM files WHERE state = 'classified' AND duplicate_of IS NULL AND ({match})"
                             " ORDER BY path", args)
        return [FileRow.from_row(r) for r in rows]

    def file_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Classified files per class, and all files per state (new, classified,
        unreadable, not_audio, duplicate, gone)."""
        classes = {r["class"]: r["n"] for r in self.db.query(
            "SELECT class, count(*) AS n FROM files WHERE state = 'classified' GROUP BY class ORDER BY n DESC")}
        states = {r["state"]: r["n"] for r in self.db.query(
            "SELECT state, count(*) AS n FROM files GROUP BY state ORDER BY n DESC")}
        return classes, states

    def set_class(self, file_id: int, file_class: str, confidence: float, evidence: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE files SET class = ?, confidence = ?, evidence = ?,"
            " state = CASE WHEN state IN ('new', 'unreadable') THEN state ELSE 'classified' END WHERE id = ?",
            [file_class, confidence, _dumps(evidence), file_id],
        )

    # -- labels (the user's corrections) -------------------------------------------

    def set_label(self, fingerprint: str, path: str, file_class: str) -> None:
        self.db.execute(
            "INSERT INTO labels (fingerprint, path, class, created) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(fingerprint) DO UPDATE SET class = excluded.class, path = excluded.path,"
            " created = excluded.created",
            [fingerprint, path, file_class, time.time()],
        )

    def label_for(self, fingerprint: str) -> str | None:
        rows = list(self.db.query("SELECT class FROM labels WHERE fingerprint = ?", [fingerprint]))
        return rows[0]["class"] if rows else None

    def labels(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM labels ORDER BY id"))

    # -- jobs ----------------------------------------------------------------

    def queue_job(
        self,
        *,
        file_id: int,
        pipeline: str,
        rule: str,
        params: dict[str, Any],
        output_folder: str,
        run_when: str,
        device: str,
        priority: int = 0,
    ) -> int | None:
        """Queue a job for the file's current content; None if the same (file, pipeline,
        parameters) is already queued, running, done or failed for that content.

        A cancelled job is taken up afresh. So is a file replaced by other content at the
        same path: its job row, whatever it came to, is queued for the new content; a
        running one is marked for it, and `finish_job` queues it again when it ends."""
        # one transaction: its first statement writes, so no other writer comes between
        # the job and the name its outputs take
        with self.db.atomic():
            job_id = self._queue_job(file_id, pipeline, rule, params, output_folder, run_when, device, priority)
            if job_id is not None:
                self._name_outputs(job_id)
        return job_id

    def _queue_job(self, file_id: int, pipeline: str, rule: str, params: dict[str, Any], output_folder: str,
                   run_when: str, device: str, priority: int) -> int | None:
        now = time.time()
        fresh = dict(rule=rule, output_folder=output_folder, run_when=run_when, device=device, priority=priority)
        content = "(SELECT fingerprint FROM files WHERE id = ?)"
        cur = self.db.execute(
            f"""INSERT OR IGNORE INTO jobs (file_id, pipeline, rule, params, output_folder, run_when,
                                          device, priority, created, fingerprint)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {content})""",
            [file_id, pipeline, rule, _dumps(params), output_folder, run_when, device, priority, now, file_id],
        )
        if cur.rowcount:
            return cur.lastrowid
        key = "file_id = ? AND pipeline = ? AND params = ?"
        where = [file_id, pipeline, _dumps(params)]
        sets = ", ".join(f"{k} = ?" for k in fresh)
        revived = list(self.db.query(
            f"""UPDATE jobs SET state = 'queued', fingerprint = {content}, {sets}, created = ?, attempts = 0,
                    not_before = 0, lease_until = NULL, worker_pid = NULL, stage = NULL, progress = NULL,
                    error = NULL, outputs = NULL, timings = NULL, started = NULL, finished = NULL
                WHERE {key} AND (state = 'cancelled' OR (state != 'running' AND fingerprint IS NOT {content}))
                RETURNING id""",
            [file_id, *fresh.values(), now, *where, file_id],
        ))
        if revived:
            return revived[0]["id"]
        self.db.execute(f"UPDATE jobs SET fingerprint = {content} WHERE {key} AND state = 'running'",
                        [file_id, *where])
        return None

    def _name_outputs(self, job_id: int) -> None:
        """Choose the name a job's outputs take (`outputs.output_name`): the name the
        file's other jobs at the same place have, else one no other input's outputs there
        have. Other inputs' outputs are never overwritten: not while they are in the inbox,
        nor after they left it (their results stay in the output tree)."""
        from .outputs import output_key, output_name

        row = next(iter(self.db.query(
            "SELECT jobs.output_folder, files.path, files.rel_path FROM jobs JOIN files ON files.id = jobs.file_id"
            " WHERE jobs.id = ?", [job_id])))
        key = output_key(row["output_folder"], row["rel_path"])
        named = list(self.db.query(  # this job's own name too, where it is queued again
            "SELECT jobs.output_name, files.path FROM jobs JOIN files ON files.id = jobs.file_id"
            " WHERE jobs.output_key = ? AND jobs.output_name IS NOT NULL ORDER BY jobs.id = ? DESC, jobs.id",
            [key, job_id]))
        mine = [r["output_name"] for r in named if r["path"] == row["path"]]
        taken = {r["output_name"] for r in named if r["path"] != row["path"]}
        name = mine[0] if mine and mine[0] not in taken else output_name(row["rel_path"], taken)
        self.db.execute("UPDATE jobs SET output_key = ?, output_name = ? WHERE id = ?", [key, name, job_id])

    def _queued_again(self, job_id: int, ran_for: str | None) -> bool:
        """A job that ran for content its file no longer holds, and that the new content
        wants too (queue_job marked it): queue it again, attempts afresh."""
        if ran_for is None:  # not known what it ran for (a database from before jobs kept it)
            return False
        cur = self.db.execute(
            "UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, lease_until = NULL, worker_pid = NULL,"
            " stage = NULL, progress = NULL, error = NULL, finished = ? WHERE id = ? AND fingerprint IS NOT ?",
            [time.time(), job_id, ran_for],
        )
        return bool(cur.rowcount)

    def unwanted_queued(self, file_id: int, keep: list[tuple[str, dict[str, Any]]]) -> list[Job]:
        """A file's queued jobs but those of `keep`, (pipeline, parameters) pairs: a job is
        its pipeline and parameters, so one the rules now want other parameters for is not kept."""
        wanted = {(pipeline, _dumps(params)) for pipeline, params in keep}
        rows = self.db.query("SELECT * FROM jobs WHERE file_id = ? AND state = 'queued' ORDER BY id", [file_id])
        return [Job.from_row(r) for r in rows if (r["pipeline"], r["params"]) not in wanted]

    def cancel_queued(self, file_id: int, keep: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Cancel a file's queued jobs but those of `keep` (see `unwanted_queued`)."""
        ids = [job.id for job in self.unwanted_queued(file_id, keep)]
        for job_id in ids:
            self.db.execute("UPDATE jobs SET state = 'cancelled', finished = ? WHERE id = ?", [time.time(), job_id])
        return ids

    def has_job(self, file_id: int, pipeline: str, params: dict[str, Any]) -> bool:
        """Whether `queue_job` would find this job there already for the file's current
        content (queued, running, done or failed), and so queue nothing."""
        rows = self.db.query(
            """SELECT 1 FROM jobs WHERE file_id = ? AND pipeline = ? AND params = ? AND state != 'cancelled'
                 AND (state = 'running' OR fingerprint IS (SELECT fingerprint FROM files WHERE id = ?))""",
            [file_id, pipeline, _dumps(params), file_id])
        return any(True for _ in rows)

    def job(self, job_id: int) -> Job | None:
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        return Job.from_row(rows[0]) if rows else None

    def jobs_for_file(self, file_id: int) -> list[Job]:
        return [Job.from_row(r) for r in self.db.query("SELECT * FROM jobs WHERE file_id = ? ORDER BY id", [file_id])]

    def claim(self, *, devices: list[str], window_open: bool, lease_seconds: float, pid: int,
              now: float | None = None, except_inboxes: list[str] | None = None) -> Job | None:
        """Atomically take the next runnable job for one of `devices`, but none for a file of
        `except_inboxes`; None when there is none."""
        if not devices:
            return None
        now = time.time() if now is None else now
        marks = ",".join("?" for _ in devices)
        whens = ["now", "window"] if window_open else ["now"]
        skip = except_inboxes or []
        skipping = (f" AND file_id NOT IN (SELECT id FROM files WHERE inbox IN ({','.join('?' for _ in skip)}))"
                    if skip else "")
        rows = list(
            self.db.query(
                f"""UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?,
                        lease_until = ?, worker_pid = ?, stage = 'starting', progress = 0, error = NULL
                    WHERE id = (
                        SELECT id FROM jobs
                        WHERE state = 'queued' AND not_before <= ? AND device IN ({marks})
                          AND run_when IN ({",".join("?" for _ in whens)}){skipping}
                        ORDER BY priority DESC, id LIMIT 1)
                    RETURNING *""",
                [now, now + lease_seconds, pid, now, *devices, *whens, *skip],
            )
        )
        return Job.from_row(rows[0]) if rows else None

    def set_progress(self, job_id: int, stage: str, progress: float | None) -> None:
        self.db.execute(
            "UPDATE jobs SET stage = ?, progress = ? WHERE id = ? AND state = 'running'", [stage, progress, job_id]
        )

    def record_result(self, job_id: int, outputs: list[str], timings: dict[str, float]) -> None:
        """The job's child reports what it wrote; the daemon then marks the job done."""
        self.db.execute("UPDATE jobs SET outputs = ?, timings = ? WHERE id = ?", [_dumps(outputs), _dumps(timings), job_id])

    def record_error(self, job_id: int, error: str) -> None:
        self.db.execute("UPDATE jobs SET error = ? WHERE id = ?", [error, job_id])

    def finish_job(self, job_id: int, ran_for: str | None = None) -> str:
        """Mark a job done; or, where its file was replaced while it ran (`ran_for`: the
        content it was claimed for), queue it again for the new content. Returns "done",
        or "replaced" where it was queued again."""
        if self._queued_again(job_id, ran_for):
            return "replaced"
        self.db.execute(
            "UPDATE jobs SET state = 'done', stage = 'done', progress = 1, finished = ?, lease_until = NULL,"
            " worker_pid = NULL, error = NULL WHERE id = ?",
            [time.time(), job_id],
        )
        return "done"

    def fail_job(self, job_id: int, error: str, *, max_attempts: int, backoff_seconds: float,
                 ran_for: str | None = None) -> str:
        """Record a failed attempt: requeue with backoff, or mark failed after max_attempts
        (queued afresh where the file was replaced while it ran, as in `finish_job`).
        Returns the new state, or "replaced"."""
        if self._queued_again(job_id, ran_for):
            return "replaced"
        job = self.job(job_id)
        assert job is not None
        if job.attempts >= max_attempts:
            state, not_before = "failed", 0.0
        else:
            state, not_before = "queued", time.time() + backoff_seconds * 2 ** (job.attempts - 1)
        self.db.execute(
            "UPDATE jobs SET state = ?, error = ?, not_before = ?, finished = ?, lease_until = NULL,"
            " worker_pid = NULL WHERE id = ?",
            [state, error, not_before, time.time(), job_id],
        )
        return state

    def release_job(self, job_id: int) -> None:
        """Put a running job back without counting the attempt (a graceful stop ran out of time)."""
        self.db.execute(
            "UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), lease_until = NULL,"
            " worker_pid = NULL, stage = NULL, progress = NULL WHERE id = ? AND state = 'running'",
            [job_id],
        )

    def recover_interrupted(self, max_attempts: int) -> tuple[list[int], list[int]]:
        """Jobs left `running` by a crash: requeue them (the attempt stays counted) or fail them."""
        requeued, failed = [], []
        for row in list(self.db.query("SELECT id, attempts FROM jobs WHERE state = 'running'")):
            if row["attempts"] >= max_attempts:
                self.db.execute(
                    "UPDATE jobs SET state = 'failed', error = coalesce(error, 'interrupted ' || attempts ||"
                    " ' times (daemon stopped or crashed while it ran)'), lease_until = NULL, worker_pid = NULL"
                    " WHERE id = ?",
                    [row["id"]],
                )
                failed.append(row["id"])
            else:
                self.db.execute(
                    "UPDATE jobs SET state = 'queued', lease_until = NULL, worker_pid = NULL WHERE id = ?",
                    [row["id"]],
                )
                requeued.append(row["id"])
        return requeued, failed

    def retry_job(self, job_id: int) -> bool:
        cur = self.db.execute(
            "UPDATE jobs SET state = 'queued', attempts = 0, not_before = 0, error = NULL, stage = NULL,"
            " progress = NULL WHERE id = ? AND state IN ('failed', 'done')",
            [job_id],
        )
        return cur.rowcount > 0

    def job_counts(self) -> dict[str, dict[str, int]]:
        """pipeline -> state -> count."""
        out: dict[str, dict[str, int]] = {}
        for r in self.db.query("SELECT pipeline, state, count(*) AS n FROM jobs GROUP BY pipeline, state"):
            out.setdefault(r["pipeline"], {})[r["state"]] = r["n"]
        return out

    def active_job_counts(self) -> dict[str, int]:
        """How many jobs are queued, running and failed, from the claim index alone: the
        service's status line asks every few seconds, and counting by pipeline
        (job_counts) reads every job ever run, 60-100 ms with 100,000 of them."""
        rows = self.db.execute("SELECT state, count(*) FROM jobs WHERE state IN ('queued', 'running', 'failed')"
                               " GROUP BY state")
        return {state: 0 for state in ("queued", "running", "failed")} | dict(rows.fetchall())

    def jobs_in_state(self, state: str, limit: int = 20) -> list[tuple[Job, str]]:
        """Jobs in a state with their file's path, most recent first."""
        rows = self.db.query(
            "SELECT jobs.*, files.path AS file_path FROM jobs JOIN files ON files.id = jobs.file_id"
            " WHERE jobs.state = ? ORDER BY coalesce(jobs.finished, jobs.started, jobs.created) DESC LIMIT ?",
            [state, limit],
        )
        return [(Job.from_row(r), r["file_path"]) for r in rows]

    def pending_window_jobs(self) -> int:
        return next(self.db.query("SELECT count(*) AS n FROM jobs WHERE state = 'queued' AND run_when = 'window'"))["n"]

    # -- the daemon ------------------------------------------------------------

    def daemon_started(self, pid: int, version: str) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO daemon (id, pid, version, started, last_seen, stopped) VALUES (1, ?, ?, ?, ?, NULL)"
            " ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, version = excluded.version,"
            " started = excluded.started, last_seen = excluded.last_seen, stopped = NULL",
            [pid, version, now, now],
        )

    def daemon_alive(self) -> None:
        self.db.execute("UPDATE daemon SET last_seen = ? WHERE id = 1", [time.time()])

    def daemon_stopped(self) -> None:
        now = time.time()
        self.db.execute("UPDATE daemon SET stopped = ?, last_seen = ? WHERE id = 1", [now, now])

    def daemon(self) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM daemon WHERE id = 1"))
        return rows[0] if rows else None

    # -- events --------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        level: str = "info",
        path: str | None = None,
        file_id: int | None = None,
        job_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO events (ts, level, kind, message, path, file_id, job_id, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [time.time(), level, kind, message, path, file_id, job_id, None if data is None else _dumps(data)],
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def events(self, *, after_id: int = 0, limit: int | None = None, file_id: int | None = None,
               paths: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Events in order; only those of one file, or of the files at or under `paths`
        (a file, or a folder: what happened to everything in it), where given. A file
        that was renamed brings the events of its earlier names along."""
        where, args = ["id > ?"], [after_id]
        if file_id is not None:
            where.append("file_id = ?")
            args.append(file_id)
        if paths is not None:
            match, like = _at_or_under(paths)
            ids = [r["id"] for r in self.db.query(f"SELECT id FROM files WHERE {match}", like)]
            where.append(f"({match} OR file_id IN ({','.join('?' * len(ids)) or 'NULL'}))")
            args.extend([*like, *ids])
        sql = f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            # the last `limit` events, still in order
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"
        for row in self.db.query(sql, args):
            row["data"] = _loads(row["data"])
            yield row

    # -- models (trained checkpoints; nightowl.models.registry reads these) ----

    def add_model(self, *, kind: str, version: str, path: str, created: str, metrics: dict[str, Any],
                  training: dict[str, Any], now: float | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO models (kind, version, path, created, metrics, training, registered)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [kind, version, path, created, _dumps(metrics), _dumps(training), time.time() if now is None else now],
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def model(self, model_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM models WHERE id = ?", [model_id]))
        return rows[0] if rows else None

    def model_by_version(self, kind: str, version: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM models WHERE kind = ? AND version = ?", [kind, version]))
        return rows[0] if rows else None

    def models(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM models ORDER BY kind, id"))

    def active_model(self, kind: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM models WHERE kind = ? AND active = 1", [kind]))
        return rows[0] if rows else None

    def activate_model(self, model_id: int) -> bool:
        """Make a model the one active model of its kind (one transaction); False if there is no such model."""
        with self.db.atomic():
            rows = list(self.db.query("SELECT kind FROM models WHERE id = ?", [model_id]))
            if not rows:
                return False
            self.db.execute("UPDATE models SET active = 0 WHERE kind = ? AND active = 1", [rows[0]["kind"]])
            self.db.execute("UPDATE models SET active = 1 WHERE id = ?", [model_id])
        return True
