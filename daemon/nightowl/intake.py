"""Intake: a settled path becomes a file row, a class and (through the rules) a job."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .companions import companion_kind
from .config import Inbox, Settings
from .eventlog import record
from .rules import NO_PIPELINE, Decision, FileFacts, Rule, decide
from .pipelines import PIPELINES
from .store import NOT_AUDIO, FileRow, Store
from .watch import ANSWER_SECONDS, within

SAMPLE = 256 * 1024
BAD_NAME = ("the file name is not valid UTF-8 (an older system's encoding): rename it to have it processed,"
            " e.g. with `convmv -f latin1 -t utf8 --notest`")


def fingerprint(path: Path, size: int | None = None) -> str:
    """Content fingerprint: size plus the start, middle and end of the file (whole file when small).

    Cheap on large files, and stable across renames and copies, which is what
    dedupe needs; tags are at the start of most containers so a retag changes it.
    """
    size = path.stat().st_size if size is None else size
    h = hashlib.blake2b(digest_size=20)
    h.update(str(size).encode())
    with path.open("rb") as fh:
        if size <= 3 * SAMPLE:
            h.update(fh.read())
        else:
            for offset in (0, (size - SAMPLE) // 2, size - SAMPLE):
                fh.seek(offset)
                h.update(fh.read(SAMPLE))
    return h.hexdigest()


def printable_path(path: str) -> str:
    """The path as text that can be stored and shown: a name in an older system's
    encoding (Latin-1 on an old share) reaches Python with its undecodable bytes as lone
    surrogates, which SQLite's UTF-8 cannot hold; they are shown as \\xNN escapes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every symlink resolved, lies inside `root` (also resolved)."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    root_real = root.resolve()
    return real == root_real or root_real in real.parents


def apply_label(analysis: dict[str, Any], label: str | None) -> dict[str, Any]:
    """A user's label overrides the classifier (the measured evidence is kept beside it)."""
    if label is None or not analysis.get("ok"):
        return analysis
    said = analysis.get("file_class")
    return {**analysis, "file_class": label, "confidence": 1.0,
            "reasons": [f"labelled {label} by you (the classifier said {said})", *analysis.get("reasons", [])]}


def facts_from(analysis: dict[str, Any], inbox: str, rel_path: str) -> FileFacts:
    probe = analysis.get("probe") or {}
    check = analysis.get("lossless_check") or {}
    return FileFacts(
        file_class=analysis.get("file_class", "unknown"),
        confidence=float(analysis.get("confidence") or 0.0),
        inbox=inbox,
        rel_path=rel_path,
        codec=probe.get("codec"),
        bitrate=probe.get("bitrate"),
        sample_rate=probe.get("sample_rate"),
        channels=probe.get("channels"),
        duration=probe.get("duration"),
        tags=probe.get("tags"),
        verdict=check.get("verdict"),
        source_codec=check.get("source_codec"),
        source=((analysis.get("evidence") or {}).get("concert") or {}).get("source"),
        video=bool(probe.get("video")),
    )


class Intake:
    """Turns settled paths into classified file rows and queued jobs (one per inbox thread)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        rules: list[tuple[Rule, str]],
        analyse: Callable[[str], dict[str, Any]],
        gpu_available: bool,
        on_job_queued: Callable[[], None] = lambda: None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.settings = settings
        # what the database decides for a file, and its analysis, one file at a time
        # across the daemon's inboxes (service.Lane); reading the file is done outside it
        self.lock = lock or threading.Lock()
        self.store = store
        self.rules = rules
        self.analyse = analyse
        self.gpu_available = gpu_available
        self.on_job_queued = on_job_queued
        # problems said once per run and file (every rescan hands such files in again):
        # a name that is not UTF-8, a file this user may not read
        self._said: set[tuple[str, str]] = set()

    def _say_once(self, spath: str, kind: str, message: str, level: str, shown: str) -> None:
        if (spath, message) not in self._said:
            self._said.add((spath, message))
            record(self.store, kind, message, level=level, path=shown)

    def handle(self, path: Path, inbox: Inbox) -> None:
        """Take in one settled file. Never raises for a bad file: it records an event instead."""
        spath = str(path)
        shown = printable_path(spath)
        if shown != spath:
            self._say_once(spath, "unreadable", BAD_NAME, "warning", shown)
            return
        if not inside(path, inbox.path):
            record(self.store, "ignored", "symlink leads outside its inbox: not followed", level="warning", path=spath)
            return
        try:
            st = path.stat()
            if not path.is_file():
                return
            if not os.access(path, os.R_OK):
                raise PermissionError("no read permission")
            fp = fingerprint(path, st.st_size)
        except FileNotFoundError:
            return  # gone before we got to it (a temp file renamed away)
        except OSError as exc:  # taken in once it can be read (the next rescan, or a chmod's event)
            self._say_once(spath, "unreadable", f"cannot read file: {exc}", "error", spath)
            return
        rel_path = path.relative_to(inbox.path).as_posix()
        with self.lock:
            self._take_in(path, spath, inbox, rel_path, st, fp)

    def _take_in(self, path: Path, spath: str, inbox: Inbox, rel_path: str, st: os.stat_result, fp: str) -> None:
        kind = companion_kind(path)
        if kind is not None:
            self._note_companion(spath, inbox.name, rel_path, st, fp, kind)
            return

        known = self.store.file_by_path(spath)
        if known is not None:
            if known.fingerprint == fp and known.state == "gone":
                if self._come_back(known.id, spath, st) != "new":
                    return
                file_id = known.id
            elif known.fingerprint == fp:
                if (known.size, known.mtime) != (st.st_size, st.st_mtime):
                    self.store.touch_file(known.id, st.st_size, st.st_mtime)
                if known.state != "new":
                    return  # nothing new: already taken in
                file_id = known.id
            else:
                self.store.replace_file_content(known.id, size=st.st_size, mtime=st.st_mtime, fingerprint=fp)
                # the rules decide afresh what the new content needs (queue_job takes its rows up again)
                cancelled = self.store.cancel_queued(known.id, keep=[])
                note = f" ({len(cancelled)} queued job(s) cancelled)" if cancelled else ""
                record(self.store, "changed", f"file content changed: classifying again{note}", path=spath,
                       file_id=known.id)
                file_id = known.id
        else:
            twins = [f for f in self.store.files_by_fingerprint(fp) if f.duplicate_of is None]
            original = twins[0] if twins else None
            # renamed or moved here, or copied? (the original may lie on a share that does not
            # answer: taken for there, which makes this a duplicate, never a move)
            if original is not None and within(ANSWER_SECONDS, lambda: not Path(original.path).exists()):
                self.store.move_file(original.id, path=spath, inbox=inbox.name, rel_path=rel_path, mtime=st.st_mtime)
                record(self.store, "moved", f"renamed from {original.path}: already known, not processed again",
                       path=spath, file_id=original.id)
                state = original.state
                if state == "gone":  # moved while the daemon was stopped: its jobs were cancelled when it went
                    moved = self.store.file(original.id)
                    assert moved is not None
                    state = self._jobs_again(moved, spath)
                if state != "new":
                    return
                file_id = original.id  # not classified yet when it moved
            elif original is not None:
                dup_id = self.store.add_file(path=spath, inbox=inbox.name, rel_path=rel_path, size=st.st_size,
                                             mtime=st.st_mtime, fingerprint=fp, duplicate_of=original.id)
                record(self.store, "duplicate", f"same content as {original.path}: not processed again",
                       path=spath, file_id=dup_id)
                return
            else:
                file_id = self.store.add_file(path=spath, inbox=inbox.name, rel_path=rel_path, size=st.st_size,
                                              mtime=st.st_mtime, fingerprint=fp)
                record(self.store, "new", "new file", path=spath, file_id=file_id)
        self._classify_and_route(file_id, spath, inbox.name, rel_path, fp)

    def _come_back(self, file_id: int, spath: str, st: os.stat_result) -> str:
        """A file marked gone is at its path again, unchanged (moved out and back, a share
        that was not mounted for a while): known again as it was, and the jobs cancelled
        when it went queued again (by the rules as they are now). Returns its state."""
        self.store.come_back(file_id, size=st.st_size, mtime=st.st_mtime)
        row = self.store.file(file_id)
        assert row is not None
        said = "taken in again (it had not been classified)" if row.state == "new" else "known again, not analysed again"
        record(self.store, "back", f"back at its path, unchanged: {said}", path=spath, file_id=file_id)
        return self._jobs_again(row, spath)

    def _jobs_again(self, row: FileRow, spath: str) -> str:
        """A file taken for gone is there again: a classified one's jobs, cancelled when it
        went, are queued again (by the rules as they are now). Returns its state."""
        if row.state == "classified":
            route_file(self.settings, self.store, self.rules, self.gpu_available, row.id, spath, facts_of_row(row),
                       self.on_job_queued, quiet=True)
        return row.state

    def _note_companion(self, spath: str, inbox: str, rel_path: str, st: os.stat_result, fp: str, kind: str) -> None:
        """A lineage text, checksum file, cover image...: one info event the first time it
        is seen, no analysis, no dedupe (every show may carry an identical file); later
        edits are taken in silently."""
        known = self.store.file_by_path(spath)
        if known is None:
            file_id = self.store.add_file(path=spath, inbox=inbox, rel_path=rel_path, size=st.st_size,
                                          mtime=st.st_mtime, fingerprint=fp, state=NOT_AUDIO)
            record(self.store, "skipped", f"not audio ({kind}): left alone", path=spath, file_id=file_id)
        elif (known.state, known.size, known.mtime, known.fingerprint) != (NOT_AUDIO, st.st_size, st.st_mtime, fp):
            self.store.set_not_audio(known.id, size=st.st_size, mtime=st.st_mtime, fingerprint=fp)

    def _classify_and_route(self, file_id: int, spath: str, inbox: str, rel_path: str, fp: str) -> None:
        analysis = apply_label(self.analyse(spath), self.store.label_for(fp))
        if analysis.get("not_audio"):  # a video without sound: noted, as cover art is, not an error
            self.store.set_not_audio(file_id, fingerprint=fp)
            record(self.store, "skipped", f"not audio ({analysis.get('error')}): left alone", path=spath,
                   file_id=file_id)
            return
        if analysis.get("not_answering") or (
                analysis.get("timed_out") and within(ANSWER_SECONDS, lambda: Path(spath).exists()) is None):
            # the file's share stopped answering while it was read (the analyzer saw it, or the
            # time limit ran out meanwhile): nothing is wrong with the file; it stays new, and is
            # taken in again when its inbox answers (service.Daemon.healthy)
            said = analysis.get("error") if analysis.get("not_answering") else \
                f"{analysis.get('error')} while its share did not answer"
            record(self.store, "error", f"{said}: taken in again once it answers", level="warning", path=spath,
                   file_id=file_id)
            return
        if not analysis.get("ok"):
            self.store.set_unreadable(file_id, analysis.get("error") or "unreadable", analysis.get("probe"))
            record(self.store, "unreadable", f"not usable audio: {analysis.get('error')}", level="error",
                   path=spath, file_id=file_id)
            return
        evidence = {**analysis.get("evidence", {}), "lossless_check": analysis["lossless_check"],
                    "reasons": analysis["reasons"]}
        self.store.set_classified(file_id, probe=analysis["probe"], file_class=analysis["file_class"],
                                  confidence=analysis["confidence"], evidence=evidence)
        check = analysis["lossless_check"]
        detail = ""
        if check.get("verdict") not in (None, "not_applicable"):
            detail = f" (lossless check: {check['verdict']}"
            if check.get("source_codec"):
                detail += f", from {check['source_codec']}"
            if check.get("cutoff_hz"):
                detail += f", cutoff {check['cutoff_hz'] / 1000:.1f} kHz"
            detail += ")"
        record(self.store, "classified", f"classified as {analysis['file_class']} "
               f"(confidence {analysis['confidence']:.2f}){detail}", path=spath, file_id=file_id,
               data={"class": analysis["file_class"], "lossless_check": check})
        self.route(file_id, spath, facts_from(analysis, inbox, rel_path))

    def route(self, file_id: int, spath: str, facts: FileFacts) -> Decision:
        return route_file(self.settings, self.store, self.rules, self.gpu_available, file_id, spath, facts,
                          self.on_job_queued)[0]


def facts_of_row(row: FileRow, file_class: str | None = None) -> FileFacts:
    """What the rules see of a file taken in earlier (its stored probe and evidence), with
    its class replaced where given (a label)."""
    evidence = row.evidence or {}
    analysis = {"file_class": file_class or row.file_class, "confidence": 1.0 if file_class else row.confidence,
                "probe": row.probe, "lossless_check": evidence.get("lossless_check") or {}, "evidence": evidence}
    return facts_from(analysis, row.inbox, row.rel_path)


def route_file(
    settings: Settings,
    store: Store,
    rules: list[tuple[Rule, str]],
    gpu_available: bool,
    file_id: int,
    spath: str,
    facts: FileFacts,
    on_job_queued: Callable[[], None] = lambda: None,
    *,
    quiet: bool = False,
) -> tuple[Decision, list[int]]:
    """Apply the rules to a classified file and queue the jobs they ask for (if any).
    Returns the decision and the jobs queued; `quiet` records only those (a re-route of
    many files), not what was already there or not wanted."""
    decision = decide(rules, facts)
    if not decision.pipelines:
        why = f"rule {decision.rule.name!r}: no pipeline" if decision.rule else "no rule matches"
        if not quiet:
            record(store, "routed", f"nothing to do ({why})", path=spath, file_id=file_id)
        return decision, []
    queued = []
    for rule in decision.rules:
        if rule.action.pipeline != NO_PIPELINE:
            job_id = _queue(settings, store, rule, gpu_available, file_id, spath, on_job_queued, quiet)
            if job_id is not None:
                queued.append(job_id)
    return decision, queued


def _queue(settings: Settings, store: Store, rule: Rule, gpu_available: bool, file_id: int, spath: str,
           on_job_queued: Callable[[], None], quiet: bool = False) -> int | None:
    action = rule.action
    pipeline = PIPELINES[action.pipeline]
    if not pipeline.available:
        if not quiet:
            record(store, "routed", f"rule {rule.name!r} wants the {action.pipeline} pipeline, which this"
                   " version does not have yet: nothing queued", path=spath, file_id=file_id)
        return None
    device = "gpu" if pipeline.device == "gpu" and gpu_available and settings.device != "cpu" else "cpu"
    job_id = store.queue_job(file_id=file_id, pipeline=action.pipeline, rule=rule.name,
                             params=action.params, output_folder=action.output, run_when=action.when,
                             device=device, priority=action.priority)
    if job_id is None:
        if not quiet:
            record(store, "routed", f"{action.pipeline}: already queued or done for this file", path=spath,
                   file_id=file_id)
        return None
    when = "now" if action.when == "now" else "in the overnight window"
    record(store, "queued", f"job {job_id}: {action.pipeline} ({when}) by rule {rule.name!r}",
           path=spath, file_id=file_id, job_id=job_id)
    on_job_queued()
    return job_id
