"""What `status`, `log` and `explain` print: data first, then text for people."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from .companions import companion_kind
from .config import Settings
from .intake import BAD_NAME, facts_from, printable_path
from .models.registry import KINDS, active
from .outputs import LOW_SPACE, free_space
from .pipelines import pipeline_shown
from .rules import Rule, decide
from .schedule import in_window, next_window
from .store import JOB_STATES, Store
from .watch import NOT_ANSWERING, Reach


def status_data(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now().astimezone()
    store = Store(settings.database)
    try:
        counts = store.job_counts()
        running = [
            {"job": j.id, "pipeline": j.pipeline, "path": p, "stage": j.stage, "progress": j.progress,
             "attempt": j.attempts}
            for j, p in store.jobs_in_state("running", limit=50)
        ]
        failures = [
            {"job": j.id, "pipeline": j.pipeline, "path": p, "error": j.error, "attempts": j.attempts}
            for j, p in store.jobs_in_state("failed", limit=10)
        ]
        files = store.count_files()
        classes, file_states = store.file_counts()
        waiting = store.pending_window_jobs()
        models = {kind: record.version for kind in KINDS if (record := active(store, kind)) is not None}
        daemon = store.daemon()
    finally:
        store.close()
    start, end = next_window(settings.window, now)
    there = Reach().all([settings.output, settings.state_dir, *(i.path for i in settings.inboxes)])
    return {
        "jobs": {pipeline: {s: c.get(s, 0) for s in JOB_STATES} for pipeline, c in sorted(counts.items())},
        "totals": {s: sum(c.get(s, 0) for c in counts.values()) for s in JOB_STATES},
        "running": running,
        "failures": failures,
        "window": {"open": in_window(settings.window, now), "start": start.isoformat(), "end": end.isoformat(),
                   "waiting_jobs": waiting},
        "daemon": daemon_state(daemon, now.timestamp()),
        "files": files,
        "classes": classes,  # classified files per class
        "file_states": file_states,  # all files per state: classified, unreadable, not_audio, duplicate, gone...
        "models": models,  # kind -> version of the active model; missing kinds use the built-in engine
        # where results and state go, and the inboxes: there at all (a share mounted), and
        # answering (None: a network share whose server is down; see watch.Reach)
        "disks": {name: _disk(p, there[p]) for name, p in (("output", settings.output), ("state", settings.state_dir))},
        "inboxes": {i.name: {"path": str(i.path), "present": there[i.path]} for i in settings.inboxes},
    }


def _disk(path: Path, present: bool | None) -> dict[str, Any]:
    # a folder not made yet: the room on the disk it will be on; one not answering: not asked
    return {"path": str(path), "present": present, "free_bytes": None if present is None else free_space(path)}


# a heartbeat older than this (the daemon writes one every 30 s) means it is gone or hung
STALE_SECONDS = 120.0


def daemon_state(row: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """Whether the daemon runs, from its row: started and not stopped, heard from lately."""
    if row is None:
        return {"state": "never started"}
    out = {"pid": row["pid"], "version": row["version"], "started": row["started"], "last_seen": row["last_seen"]}
    if row["stopped"] is not None:
        return {"state": "stopped", **out, "stopped": row["stopped"]}
    if now - row["last_seen"] > STALE_SECONDS:
        return {"state": "not heard from", **out}  # killed, crashed or hung: systemd's watchdog restarts it
    return {"state": "running", **out}


def _daemon_line(d: dict[str, Any]) -> str:
    def when(ts: float) -> str:
        return f"{datetime.fromtimestamp(ts):%a %d %b %H:%M}"

    if d["state"] == "never started":
        return "daemon: no record of it running yet"
    if d["state"] == "stopped":
        return f"daemon: stopped {when(d['stopped'])}"
    if d["state"] == "not heard from":
        return f"daemon: not heard from since {when(d['last_seen'])} (pid {d['pid']}): killed, crashed or hung?"
    return f"daemon: running since {when(d['started'])} (pid {d['pid']}, nightowl {d['version']})"


def _inbox_lines(inboxes: dict[str, Any]) -> list[str]:
    """Only the inboxes that are not there: their files wait."""
    lines = []
    for name, i in inboxes.items():
        if i["present"] is None:
            lines.append(f"inbox {name}: {i['path']} {NOT_ANSWERING}: its files wait until it answers")
        elif not i["present"]:
            lines.append(f"inbox {name}: {i['path']} is MISSING or unreadable (a share not mounted?)")
    return lines


def _disks_line(disks: dict[str, Any], daemon: dict[str, Any]) -> str:
    out = disks["output"]
    if out["present"] is None:
        return f"output: {out['path']} {NOT_ANSWERING}: no job starts until it answers"
    if not out["present"] and daemon["state"] != "never started":
        return (f"output: {out['path']} is MISSING (a share not mounted?): no job starts until it is there"
                " (make it again if it was removed on purpose)")
    parts = []
    for name, d in disks.items():
        free = d["free_bytes"]
        if free is None:
            parts.append(f"{name} ?")
        elif free < LOW_SPACE:
            parts.append(f"{name} ONLY {free / 2**20:.0f} MiB free")
        else:
            parts.append(f"{name} {free / 2**30:.1f} GiB free")
    return "disks: " + ", ".join(parts)


def status_text(data: dict[str, Any]) -> str:
    lines = [_daemon_line(data["daemon"])]
    t = data["totals"]
    lines.append(f"jobs: {t['queued']} queued, {t['running']} running, {t['done']} done, {t['failed']} failed"
                 f"  ({data['files']} files known)")
    for pipeline, c in data["jobs"].items():
        lines.append(f"  {pipeline:<16} " + ", ".join(f"{c[s]} {s}" for s in JOB_STATES))
    if data["files"]:
        other = {"new": "waiting to be classified", "unreadable": "unreadable", "not_audio": "not audio",
                 "duplicate": "duplicates", "gone": "gone from the inboxes"}
        parts = [f"{n} {c}" for c, n in data["classes"].items()]
        rest = [f"{n} {other.get(s, s)}" for s, n in data["file_states"].items() if s != "classified"]
        lines.append("files: " + ", ".join(parts or ["none classified"]) + ("; " + ", ".join(rest) if rest else ""))
    w = data["window"]
    start = datetime.fromisoformat(w["start"])
    end = datetime.fromisoformat(w["end"])
    if w["open"]:
        lines.append(f"window: open until {end:%H:%M}")
    else:
        lines.append(f"window: closed; opens {start:%a %d %b %H:%M} until {end:%H:%M}"
                     f" ({w['waiting_jobs']} job(s) waiting for it)")
    if data["running"]:
        lines.append("running:")
        for r in data["running"]:
            pct = "" if r["progress"] is None else f" {100 * r['progress']:.0f}%"
            lines.append(f"  job {r['job']} {r['pipeline']}: {r['stage']}{pct}  {r['path']}")
    if data["failures"]:
        lines.append("recent failures (nightowl retry ID to run again):")
        for f in data["failures"]:
            lines.append(f"  job {f['job']} {f['pipeline']} after {f['attempts']} attempt(s): {f['error']}  {f['path']}")
    lines.extend(_inbox_lines(data["inboxes"]))
    lines.append(_disks_line(data["disks"], data["daemon"]))
    if data["models"]:
        lines.append("models: " + ", ".join(f"{kind} {version}" for kind, version in data["models"].items()))
    else:
        lines.append("models: none active (restore uses its DSP engine)")
    return "\n".join(lines)


# control characters (a newline in a file name) shown escaped: one event is one line
_ESCAPES = {c: f"\\x{c:02x}" for c in range(32)} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r", 127: "\\x7f"}


def format_event(event: dict[str, Any]) -> str:
    ts = datetime.fromtimestamp(event["ts"]).strftime("%Y-%m-%d %H:%M:%S")
    where = f"  {event['path']}" if event.get("path") and event["path"] not in event["message"] else ""
    level = "" if event["level"] == "info" else f"{event['level'].upper()} "
    return f"{ts} {level}{event['kind']}: {event['message']}{where}".translate(_ESCAPES)


def explain_file(settings: Settings, rules: list[tuple[Rule, str]], path: Path) -> dict[str, Any]:
    """Classify one file and decide its rule, without touching the database or the queue."""
    from .classify.analyse import Analysis, analyse_safely

    path = path.absolute()
    inbox = settings.inbox_of(path)
    rel = path.relative_to(inbox.path).as_posix() if inbox else path.name
    kind = companion_kind(path)
    shown = printable_path(str(path))
    if kind is not None:  # as intake takes it: not opened as audio
        analysis = Analysis(path=str(path), ok=False, error=f"not audio ({kind}): intake leaves it alone").to_dict()
    elif shown != str(path):
        analysis = Analysis(path=shown, ok=False, error=BAD_NAME).to_dict()
    else:
        analysis = analyse_safely(path, settings.class_options())
    if settings.database.exists():
        from .intake import apply_label, fingerprint

        store = Store(settings.database)
        try:
            analysis = apply_label(analysis, store.label_for(fingerprint(path)))
        finally:
            store.close()
    check = analysis["lossless_check"]
    decision = decide(rules, facts_from(analysis, inbox.name if inbox else "", rel))
    return {
        "path": shown,
        "class": analysis["file_class"],
        "confidence": analysis["confidence"],
        "lossless_check": {k: check.get(k) for k in ("verdict", "source_codec", "cutoff_hz", "confidence")},
        "rule": decision.rule.name if decision.rule else None,
        "pipeline": decision.pipeline,
        "also": [{"rule": r.name, "pipeline": r.action.pipeline} for r in decision.also],
        "error": analysis["error"],
        "not_audio": kind,
        "reasons": analysis["reasons"],
        "rule_reasons": decision.reasons,
        "features": check.get("features", {}),
        "probe": analysis["probe"],
        "evidence": {k: v for k, v in (analysis.get("evidence") or {}).items() if k in ("podcast", "concert")},
    }


def explain_text(data: dict[str, Any]) -> str:
    lines = [data["path"]]
    if data.get("not_audio"):
        lines.append(f"  skipped: {data['error']}")
    elif data["error"]:
        lines.append(f"  unreadable: {data['error']}")
    lines.append(f"  class: {data['class']} (confidence {data['confidence']:.2f})")
    p = data.get("probe") or {}
    if p:
        kbps = f", {p['bitrate'] // 1000} kbps" if p.get("bitrate") else ""
        bits = f", {p['bit_depth']}-bit" if p.get("bit_depth") else ""
        lines.append(f"  format: {p['codec']} in {p['container']}, {p['sample_rate']} Hz{bits}, "
                     f"{p['channels']} ch{kbps}, {p['duration']:.1f} s{', with video' if p.get('video') else ''}")
    c = data["lossless_check"]
    if c["verdict"] != "not_applicable":
        cut = f", cutoff {c['cutoff_hz'] / 1000:.1f} kHz" if c.get("cutoff_hz") else ""
        src = f", source {c['source_codec']}" if c.get("source_codec") else ""
        lines.append(f"  lossless check: {c['verdict']}{src}{cut} (confidence {c['confidence'] or 0:.2f})")
    for reason in data["reasons"]:
        lines.append(f"    - {reason}")
    for name, label in (("podcast", "podcast"), ("concert", "audience recording")):
        ev = (data.get("evidence") or {}).get(name)
        if not ev:
            continue
        source = f", source {ev['source'].upper()}" if ev.get("source") else ""
        lines.append(f"  {label} score: {ev['score']:.2f}{source}")
        for cue in ev["cues"][:6]:
            arrow = "+" if cue["weight"] > 0 else "-" if cue["weight"] < 0 else "="  # =: heard, weighs nothing
            lines.append(f"    {arrow} {cue['text']}")
        if ev.get("ends"):
            lines.append(f"    ({ev['ends']})")
    for reason in data["rule_reasons"]:
        lines.append(f"  {reason}")
    lines.append(f"  pipeline: {pipeline_shown(data['pipeline'])}")
    for extra in data.get("also") or []:
        lines.append(f"  and then: {pipeline_shown(extra['pipeline'])} (rule {extra['rule']!r})")
    return "\n".join(lines)
