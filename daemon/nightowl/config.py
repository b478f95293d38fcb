"""Settings: config.toml plus NIGHTOWL_* environment overrides (nested with `__`)."""

from __future__ import annotations

import os
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

# hidden files, backups, temporaries; the names downloads, torrent and sync clients give unfinished files
DEFAULT_IGNORE = [".*", "*~", "*.tmp", "*.part", "*.partial", "*.crdownload", "*.download",
                  "*.!qB", "*.!ut", "*.!sync", "*.aria2"]


class ConfigError(Exception):
    """The configuration is missing or invalid; the message names the key and the problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Inbox(_Section):
    path: Path
    name: str = ""
    # inotify sees nothing done on NFS/SMB by other machines: poll those
    poll: bool = False
    interval: float = Field(default=10.0, gt=0, description="polling interval in seconds")

    @model_validator(mode="after")
    def _default_name(self) -> Inbox:
        if not self.name:
            self.name = self.path.name or str(self.path)
        return self


class Window(_Section):
    """The overnight window in which `window` jobs may start."""

    start: time = time(1, 0)
    end: time = time(6, 0)
    timezone: str = "local"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value != "local":
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown timezone {value!r}") from exc
        return value


class Workers(_Section):
    cpu_jobs: int = Field(default=1, ge=1)
    gpu_slots: int = Field(default=1, ge=0)
    job_timeout_minutes: float = Field(default=180, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = Field(default=60, ge=0)
    stop_timeout_seconds: float = Field(default=60, ge=0)
    poll_seconds: float = Field(default=1.0, gt=0)


class Classify(_Section):
    """How files are told apart."""

    # speech shorter than this (a voice memo, a spoken intro) is not a podcast by default
    podcast_min_minutes: float = Field(default=1.0, ge=0)
    # scores (0..1) from which a file counts as a podcast or an audience recording
    podcast_threshold: float = Field(default=0.5, gt=0, lt=1)
    concert_threshold: float = Field(default=0.5, gt=0, lt=1)


class Models(_Section):
    """Where downloaded models live. `nightowl models fetch` fills it; jobs look there
    before the hub, so the daemon runs offline once the models are fetched."""

    folder: Path | None = None  # default: <state_dir>/models
    # a file holding a Hugging Face token (gated models such as pyannote's); HF_TOKEN works too
    token_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NIGHTOWL_", env_nested_delimiter="__", extra="forbid")

    inboxes: list[Inbox] = Field(default_factory=lambda: [Inbox(path=Path("inbox"))], min_length=1)
    output: Path = Path("output")
    state_dir: Path = Path("state")
    rules: list[Path] = Field(default_factory=lambda: [Path("rules/default.toml")], min_length=1)
    window: Window = Field(default_factory=Window)
    workers: Workers = Field(default_factory=Workers)
    classify: Classify = Field(default_factory=Classify)
    models: Models = Field(default_factory=Models)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    settle_seconds: float = Field(default=5.0, ge=0)
    rescan_minutes: float = Field(default=30.0, gt=0)
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def database(self) -> Path:
        return self.state_dir / "nightowl.db"

    @property
    def models_folder(self) -> Path:
        return self.models.folder or self.state_dir / "models"

    @property
    def work_folder(self) -> Path:
        """Checkpoints of jobs in progress (see pipelines/checkpoints.py)."""
        return self.state_dir / "work"

    def hub_token(self) -> str | None:
        """The Hugging Face token from `models.token_file`; None leaves the hub to HF_TOKEN or its login."""
        if self.models.token_file is None:
            return None
        try:
            return self.models.token_file.read_text().strip() or None
        except OSError as exc:
            raise ConfigError(f"models.token_file: cannot read {self.models.token_file}: {exc}") from exc

    def resolved(self, base: Path) -> Settings:
        """Return a copy with relative paths taken relative to `base` (the config file's folder)."""

        def fix(p: Path) -> Path:
            p = p.expanduser()
            return p if p.is_absolute() else (base / p).resolve()

        return self.model_copy(
            update={
                "inboxes": [i.model_copy(update={"path": fix(i.path)}) for i in self.inboxes],
                "output": fix(self.output),
                "state_dir": fix(self.state_dir),
                "rules": [fix(r) for r in self.rules],
                "models": self.models.model_copy(update={
                    "folder": fix(self.models.folder) if self.models.folder else None,
                    "token_file": fix(self.models.token_file) if self.models.token_file else None}),
            }
        )

    def class_options(self) -> Any:
        """The classify settings as the analysis takes them."""
        from .classify.options import ClassOptions

        return ClassOptions(**self.classify.model_dump())

    def inbox_named(self, name: str) -> Inbox | None:
        return next((i for i in self.inboxes if i.name == name), None)

    def inbox_of(self, path: Path) -> Inbox | None:
        """The inbox that holds `path` (lexically; symlinks are not followed out)."""
        for inbox in self.inboxes:
            if path == inbox.path or inbox.path in path.parents:
                return inbox
        return None


def _format_error(exc: ValidationError, source: Path) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        var = "NIGHTOWL_" + "__".join(str(p) for p in err["loc"]).upper()
        if err["loc"] and var in os.environ:  # the environment overrides the file: say which one was wrong
            key += f" (from {var}={os.environ[var]!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file to use: --config, then $NIGHTOWL_CONFIG, then ./config.toml."""
    raw = explicit or os.environ.get("NIGHTOWL_CONFIG") or "config.toml"
    return Path(raw).expanduser().resolve()


def load_settings(explicit: str | Path | None = None) -> Settings:
    """Load and validate the configuration; raise ConfigError with a readable reason."""
    path = config_path(explicit)
    # pydantic-settings silently ignores a missing TOML file: check it ourselves
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    try:
        loaded: Any = FileSettings()
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, path)) from exc
    settings: Settings = loaded
    names = [i.name for i in settings.inboxes]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: inboxes: two inboxes share a name ({', '.join(names)})")
    resolved = settings.resolved(path.parent)
    problems = overlaps(resolved)
    if problems:
        raise ConfigError("\n".join([f"{path}: folders that must not overlap do", *(f"  {p}" for p in problems)]))
    return resolved


def _within(inner: Path, outer: Path) -> bool:
    a, b = inner.resolve(), outer.resolve()
    return a == b or b in a.parents


def overlaps(settings: Settings) -> list[str]:
    """Folders that lie inside one another where that breaks the file flow: an inbox in
    another (its files would belong to both), results or state in an inbox (nightowl
    would take its own output and its database in as new files), an inbox in the output."""
    problems = []
    for i, a in enumerate(settings.inboxes):
        for b in settings.inboxes[i + 1:]:
            if _within(a.path, b.path) or _within(b.path, a.path):
                problems.append(f"inboxes: {a.name} ({a.path}) and {b.name} ({b.path}) overlap: a file there "
                                "would belong to both")
        if _within(settings.output, a.path):
            problems.append(f"output: {settings.output} lies inside inbox {a.name}: nightowl would take its "
                            "own results in as new files")
        elif _within(a.path, settings.output):
            problems.append(f"inboxes: {a.name} ({a.path}) lies inside the output {settings.output}")
        if _within(settings.state_dir, a.path):
            problems.append(f"state_dir: {settings.state_dir} lies inside inbox {a.name}: its database would "
                            "be taken in as new files")
    return problems
