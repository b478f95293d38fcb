"""The `nightowl` command. Exit codes: 0 ok, 1 the work failed, 2 bad usage or bad config."""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import click

from .config import ConfigError, Settings, load_settings
from .rules import FILE_CLASSES, RulesError, load_rules


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except ConfigError as exc:
        click.echo(f"nightowl: {exc}", err=True)
        sys.exit(2)


def _rules(settings: Settings, paths: list[Path] | None = None) -> list[Any]:
    try:
        return load_rules(paths or settings.rules)
    except RulesError as exc:
        click.echo(f"nightowl: {exc}", err=True)
        sys.exit(2)


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # imported only now: the store brings sqlite-utils, and with it pandas, which
            # `run` keeps out of the daemon (keep_daemon_small) once it has begun
            from .store import UnreadableDatabase

            if not isinstance(exc, UnreadableDatabase):
                raise
            # every command opens the database: said in one line, not a traceback
            click.echo(f"nightowl: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="config file (default: $NIGHTOWL_CONFIG, else ./config.toml)")
@click.version_option(package_name="nightowl")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """nightowl: checks, restores and cleans the audio dropped into your inbox folders."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


def keep_daemon_small() -> None:
    """Keep pandas out of the long-lived daemon process. sqlite-utils imports it
    whenever it is installed (the speech models' dependencies install it), only to map
    pandas.Timestamp to a column type, which the daemon never stores: about 30 MB of
    RSS for nothing. The analysis and job children are fresh interpreters and keep it."""
    sys.modules.setdefault("pandas", None)  # type: ignore[arg-type]


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon in the foreground (this is what systemd runs)."""
    keep_daemon_small()
    from .logsetup import setup_logging
    from .service import Daemon
    from .store import disk_full

    settings = _settings(ctx)
    rules = _rules(settings)
    setup_logging(settings.log_level)
    try:
        code = Daemon(settings, rules).run()
    except Exception as exc:
        if not disk_full(exc):
            raise
        click.echo(f"nightowl: cannot write its database in {settings.state_dir}: the disk is full ({exc}). "
                   "Free some space there and start it again: it carries on where it stopped.", err=True)
        code = 1
    sys.exit(code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Jobs per state and pipeline, running jobs, the window, recent failures."""
    from .report import status_data, status_text

    settings = _settings(ctx)
    data = status_data(settings)
    click.echo(json.dumps(data) if as_json else status_text(data))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-f", "--follow", is_flag=True, help="keep printing new events")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.option("-n", "--lines", default=50, show_default=True, help="how many recent events")
@click.pass_context
def log(ctx: click.Context, paths: tuple[str, ...], follow: bool, as_json: bool, lines: int) -> None:
    """The event log: what happened to every file, or to the files (and folders) named."""
    from .report import format_event
    from .store import Store

    settings = _settings(ctx)
    store = Store(settings.database)
    only = [os.path.abspath(p) for p in paths] or None
    last = 0
    try:
        while True:
            for event in store.events(after_id=last, limit=None if last else lines, paths=only):
                last = event["id"]
                click.echo(json.dumps(event) if as_json else format_event(event))
            if not follow:
                return
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.pass_context
def explain(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Classify files and say which rule would match, without queuing anything."""
    from .report import explain_file, explain_text

    settings = _settings(ctx)
    rules = _rules(settings)
    for raw in paths:
        data = explain_file(settings, rules, Path(raw))
        click.echo(json.dumps(data) if as_json else explain_text(data))


def _parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected key=value", param_hint="--set")
        try:
            params[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            params[key] = raw  # a bare word is a string
    return params


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--pipeline", required=True, help="the pipeline to run")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="output folder (default: the configured output root)")
@click.option("--set", "sets", multiple=True, help="pipeline parameter key=value (repeatable)")
@click.option("--dry-run", is_flag=True, help="say what would be done; write nothing")
@click.option("--format", "fmt", type=click.Choice(["flac", "wav"]), default=None,
              help="restore: output format (44.1 kHz 24-bit either way)")
@click.option("--no-tags", is_flag=True, help="restore: do not carry tags and cover art")
@click.option("--gate-threshold", type=float, default=None,
              help="restore: dB of deficit under which nothing is added (default 10)")
@click.option("--gate-range", type=float, default=None,
              help="restore: dB above the threshold at which all of the estimate is used (default 10)")
@click.option("--json", "as_json", is_flag=True, help="print the outputs as JSON")
@click.pass_context
def process(ctx: click.Context, paths: tuple[str, ...], pipeline: str, out: str | None, sets: tuple[str, ...],
            dry_run: bool, fmt: str | None, no_tags: bool, gate_threshold: float | None,
            gate_range: float | None, as_json: bool) -> None:
    """Run one pipeline now, in the foreground, and print the outputs."""
    from .pipelines import PIPELINES
    from .process import output_names, plan_file, process_file

    settings = _settings(ctx)
    if pipeline not in PIPELINES:
        raise click.BadParameter(f"unknown pipeline {pipeline!r} (one of {', '.join(PIPELINES)})",
                                 param_hint="--pipeline")
    raw_params = _parse_set(sets)
    # shorthands for the restore pipeline's parameters
    shorthands = {"format": fmt, "tags": False if no_tags else None, "gate_threshold_db": gate_threshold,
                  "gate_range_db": gate_range}
    given = {k: v for k, v in shorthands.items() if v is not None}
    if given and pipeline != "restore":
        raise click.BadParameter(f"--format, --no-tags and --gate-* are options of the restore pipeline, "
                                 f"not {pipeline}", param_hint="--pipeline")
    raw_params.update(given)
    try:
        params = PIPELINES[pipeline].params.model_validate(raw_params).model_dump()
    except Exception as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from exc
    failed = False
    names = output_names(settings, [Path(raw) for raw in paths])
    for raw, name in zip(paths, names):
        try:
            if dry_run:
                result: Any = plan_file(settings, pipeline, params, Path(raw), Path(out) if out else None, name)
            else:
                result = process_file(settings, pipeline, params, Path(raw), Path(out) if out else None,
                                      show_progress=not as_json, output_name=name)
        except Exception as exc:
            failed = True
            click.echo(f"{raw}: failed: {type(exc).__name__}: {exc}", err=True)
            continue
        if dry_run:
            click.echo(json.dumps({"path": raw, "pipeline": pipeline, "dry_run": True, **result})
                       if as_json else "\n".join(f"{k}: {v}" for k, v in result.items()))
        elif as_json:
            click.echo(json.dumps({"path": raw, "pipeline": pipeline, "outputs": result}))
        else:
            for o in result:
                click.echo(o)
    sys.exit(1 if failed else 0)


@main.group()
def models() -> None:
    """The model registry: which trained models there are and which one is used."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def models_list(ctx: click.Context, as_json: bool) -> None:
    """Registered models, the active one of each kind marked."""
    from .models.registry import list_models
    from .store import Store

    store = Store(_settings(ctx).database)
    try:
        records = list_models(store)
    finally:
        store.close()
    for r in records:
        if as_json:
            click.echo(json.dumps({"id": r.id, "kind": r.kind, "version": r.version, "path": str(r.path),
                                   "active": r.active, "metrics": r.metrics, "created": r.created}))
        else:
            click.echo(f"{'*' if r.active else ' '} {r.id:>3}  {r.kind:<8} {r.version:<16} {r.path}")
    if not records and not as_json:
        click.echo("no models registered: the restore pipeline uses its DSP engine")


@models.command("register")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--activate", is_flag=True, help="make it the model in use for its kind")
@click.pass_context
def models_register(ctx: click.Context, path: str, activate: bool) -> None:
    """Register a nightowl checkpoint (its metadata is checked first)."""
    from .models.checkpoint import CheckpointError
    from .models.registry import RegistryError, register
    from .store import Store

    store = Store(_settings(ctx).database)
    try:
        record = register(store, Path(path).absolute(), activate=activate)
    except (CheckpointError, RegistryError) as exc:
        click.echo(f"{path}: {exc}", err=True)
        sys.exit(2)
    finally:
        store.close()
    click.echo(f"registered {record.kind} model {record.version} as #{record.id}"
               + (" (active)" if record.active else ""))


@models.command("activate")
@click.argument("model_id", type=int)
@click.pass_context
def models_activate(ctx: click.Context, model_id: int) -> None:
    """Use model MODEL_ID for its kind from now on."""
    from .models.registry import activate
    from .store import Store

    store = Store(_settings(ctx).database)
    try:
        record = activate(store, model_id)
    except KeyError:
        click.echo(f"no model #{model_id}", err=True)
        sys.exit(2)
    finally:
        store.close()
    click.echo(f"{record.kind}: now using {record.version} (#{record.id})")


@models.command("fetch")
@click.option("--dry-run", is_flag=True, help="list what would be downloaded, download nothing")
@click.pass_context
def models_fetch(ctx: click.Context, dry_run: bool) -> None:
    """Download the podcast models the rules use (Whisper, pyannote, Demucs) into the
    models folder, so the daemon can then run offline."""
    from .pipelines import PodcastParams
    from .podcast.fetch import fetch, wanted

    settings = _settings(ctx)
    params = [PodcastParams.model_validate(rule.action.params) for rule, _ in _rules(settings)
              if rule.action.pipeline == "podcast"] or [PodcastParams()]
    items = wanted(params)
    if not items:
        click.echo("nothing to fetch: every model is a local folder or ships with nightowl")
        return
    failed = 0
    for item in items:
        if dry_run:
            click.echo(f"would fetch {item.kind} model {item.name} into {settings.models_folder}")
            continue
        click.echo(f"fetching {item.kind} model {item.name} ...")
        try:
            dest = fetch(item, settings.models_folder, settings.hub_token())
        except Exception as exc:  # network, gated repo, disk: say which model and why, go on
            failed += 1
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"  failed: {type(exc).__name__}: {first}", err=True)
            continue
        click.echo(f"  {dest}")
    if failed:
        click.echo(f"{failed} of {len(items)} models could not be fetched (gated models such as pyannote's "
                   "need a Hugging Face token: HF_TOKEN, or models.token_file in the config)", err=True)
        sys.exit(1)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("file_class", metavar="CLASS", type=click.Choice(FILE_CLASSES))
@click.pass_context
def label(ctx: click.Context, path: str, file_class: str) -> None:
    """Correct the class of a file: it overrides the classifier, re-routes the file,
    and is kept as a training label."""
    from .labels import label_file

    settings = _settings(ctx)
    for line in label_file(settings, _rules(settings), Path(path), file_class):
        click.echo(line)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--dry-run", is_flag=True, help="say what would be queued or cancelled; change nothing")
@click.pass_context
def reroute(ctx: click.Context, paths: tuple[str, ...], dry_run: bool) -> None:
    """Apply the rules as they are now to files taken in earlier (all, or those at or under
    PATHS): jobs they now ask for are queued, queued ones they no longer ask for cancelled."""
    from .reroute import reroute as run_reroute

    settings = _settings(ctx)
    for line in run_reroute(settings, _rules(settings), [os.path.abspath(p) for p in paths] or None, dry_run):
        click.echo(line)


@main.group()
def rules() -> None:
    """Rule files."""


@rules.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.pass_context
def rules_check(ctx: click.Context, file: str | None) -> None:
    """Validate rule files (the configured ones, or FILE)."""
    if file:
        loaded = _rules(Settings.model_construct(), [Path(file)])
    else:
        loaded = _rules(_settings(ctx))
    for rule, source in loaded:
        target = rule.action.pipeline
        click.echo(f"ok  {source}: {rule.name!r} -> {target} ({rule.action.when})")
    click.echo(f"{len(loaded)} rule(s) valid")


@main.command()
@click.argument("job_id", type=int)
@click.pass_context
def retry(ctx: click.Context, job_id: int) -> None:
    """Queue a failed (or finished) job again."""
    from .eventlog import record
    from .store import Store

    settings = _settings(ctx)
    store = Store(settings.database)
    try:
        if not store.retry_job(job_id):
            click.echo(f"nightowl: job {job_id} is not failed or done (or does not exist)", err=True)
            sys.exit(1)
        record(store, "retry", f"job {job_id}: queued again by hand", job_id=job_id)
        click.echo(f"job {job_id} queued again")
    finally:
        store.close()


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the config, inboxes, inotify limits, decoders and GPU."""
    from .doctor import run_checks

    try:
        settings = load_settings(ctx.obj.get("config"))
    except ConfigError as exc:
        click.echo(f"FAIL config: {exc}")
        sys.exit(2)
    ok = True
    for check in run_checks(settings):
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[check.level]
        click.echo(f"{mark} {check.name}: {check.message}")
        ok = ok and check.level != "fail"
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
