"""Rules: ordered TOML data that route a classified file to a pipeline. First match wins."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .pipelines import PIPELINES

FILE_CLASSES = ("fake_lossless", "lossless_music", "lossy_music", "concert", "podcast", "unknown")
NO_PIPELINE = "none"


class RulesError(Exception):
    """A rule file is invalid; the message names the file, the rule and the key."""


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, int, float)) else value


class Match(BaseModel):
    """Conditions; every one given must hold. Lists mean "any of"."""

    model_config = ConfigDict(extra="forbid")

    class_: list[str] | None = Field(default=None, alias="class")
    confidence_min: float | None = Field(default=None, ge=0, le=1)
    inbox: list[str] | None = None
    path: list[str] | None = None  # globs on the path relative to the inbox, e.g. "live/**"
    codec: list[str] | None = None
    verdict: list[str] | None = None  # the lossless check's verdict
    source_codec: list[str] | None = None
    bitrate_min: float | None = None  # kbps
    bitrate_max: float | None = None
    sample_rate: list[int] | None = None
    sample_rate_min: int | None = None
    sample_rate_max: int | None = None
    duration_min: float | None = None  # seconds
    duration_max: float | None = None
    channels: list[int] | None = None
    tags: dict[str, str] | None = None  # tag name -> glob on its value, case-insensitive
    source: list[str] | None = None  # a live recording's source: aud, sbd, matrix (from names, lineage)
    video: bool | None = None  # true: the file holds a moving picture too (cover art does not count)

    _listify = field_validator(
        "class_", "inbox", "path", "codec", "verdict", "source_codec", "sample_rate", "channels", "source",
        mode="before"
    )(_as_list)

    @field_validator("class_")
    @classmethod
    def _known_class(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item not in FILE_CLASSES:
                raise ValueError(f"unknown class {item!r} (one of {', '.join(FILE_CLASSES)})")
        return value


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pipeline: str
    output: str = ""  # subfolder of the output root
    when: Literal["now", "window"] = "window"
    priority: int = 0
    # `continue = true`: after this rule, the next rule that matches acts as well (a
    # fake-lossless file gets its report now and its restoration overnight)
    keep_matching: bool = Field(default=False, alias="continue")
    # validated against the pipeline, so declared after it
    params: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("pipeline")
    @classmethod
    def _known_pipeline(cls, value: str) -> str:
        if value != NO_PIPELINE and value not in PIPELINES:
            raise ValueError(f"unknown pipeline {value!r} (one of {', '.join([*PIPELINES, NO_PIPELINE])})")
        return value

    @field_validator("output")
    @classmethod
    def _inside_output_root(cls, value: str) -> str:
        parts = Path(value).parts
        if Path(value).is_absolute() or ".." in parts:
            raise ValueError("output must be a relative folder inside the output root")
        return value

    @field_validator("params")
    @classmethod
    def _valid_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        pipeline = info.data.get("pipeline")
        if pipeline is None:
            return value  # the pipeline itself was invalid: reported there
        if pipeline == NO_PIPELINE:
            if value:
                raise ValueError("params given for pipeline 'none'")
            return value
        try:
            return PIPELINES[pipeline].params.model_validate(value).model_dump()
        except ValidationError as exc:
            raise ValueError("; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
                for e in exc.errors()
            )) from None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    match: Match = Field(default_factory=Match)
    action: Action


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: list[Rule] = Field(default_factory=list)


@dataclass(frozen=True)
class FileFacts:
    """What rules can look at for one file."""

    file_class: str
    confidence: float
    inbox: str
    rel_path: str
    codec: str | None = None
    bitrate: int | None = None  # bits per second
    sample_rate: int | None = None
    channels: int | None = None
    duration: float | None = None
    tags: dict[str, str] | None = None
    verdict: str | None = None
    source_codec: str | None = None
    source: str | None = None  # aud | sbd | matrix, for live recordings
    video: bool = False


@dataclass(frozen=True)
class Decision:
    rule: Rule | None
    source: str | None
    reasons: list[str]
    also: tuple[Rule, ...] = ()  # further rules reached through `continue = true`

    @property
    def pipeline(self) -> str | None:
        if self.rule is None or self.rule.action.pipeline == NO_PIPELINE:
            return None
        return self.rule.action.pipeline

    @property
    def rules(self) -> list[Rule]:
        return [] if self.rule is None else [self.rule, *self.also]

    @property
    def pipelines(self) -> list[str]:
        return [r.action.pipeline for r in self.rules if r.action.pipeline != NO_PIPELINE]

    @property
    def jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """The (pipeline, parameters) of each job the matching rules ask for."""
        return [(r.action.pipeline, r.action.params) for r in self.rules if r.action.pipeline != NO_PIPELINE]


def _location(err: dict[str, Any], data: dict[str, Any]) -> str:
    loc = list(err["loc"])
    if len(loc) >= 2 and loc[0] == "rule" and isinstance(loc[1], int):
        index = loc[1]
        rules = data.get("rule") or []
        name = rules[index].get("name") if index < len(rules) and isinstance(rules[index], dict) else None
        key = ".".join(str(p) for p in loc[2:]) or "(rule)"
        label = f"rule #{index + 1}" + (f" ({name!r})" if name else "")
        return f"{label}: {key}"
    return ".".join(str(p) for p in loc) or "(top level)"


def load_rules(paths: list[Path]) -> list[tuple[Rule, str]]:
    """Load and validate rule files in order; raise RulesError naming file, rule and key."""
    out: list[tuple[Rule, str]] = []
    for path in paths:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise RulesError(f"{path}: rule file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"{path}: not valid TOML: {exc}") from exc
        try:
            parsed = RuleFile.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                problems.append(f"{path}: {_location(err, data)}: {msg}")
            raise RulesError("\n".join(problems)) from exc
        names = [r.name for r in parsed.rule]
        if len(set(names)) != len(names):
            raise RulesError(f"{path}: two rules share a name")
        out.extend((rule, str(path)) for rule in parsed.rule)
    return out


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _path_glob(pattern: str, rel_path: str) -> bool:
    # "**/" also matches at the top level, as users expect from shells
    if fnmatch.fnmatchcase(rel_path, pattern):
        return True
    return pattern.startswith("**/") and fnmatch.fnmatchcase(rel_path, pattern[3:])


def match_rule(match: Match, facts: FileFacts) -> tuple[bool, str]:
    """Whether a rule's conditions hold for a file, and the first condition that failed."""
    checks: list[tuple[bool, str]] = []
    if match.class_ is not None:
        checks.append((facts.file_class in match.class_, f"class is {facts.file_class}"))
    if match.confidence_min is not None:
        checks.append((facts.confidence >= match.confidence_min, f"confidence {facts.confidence:.2f} < {match.confidence_min}"))
    if match.inbox is not None:
        checks.append((facts.inbox in match.inbox, f"inbox is {facts.inbox}"))
    if match.path is not None:
        checks.append((any(_path_glob(p, facts.rel_path) for p in match.path), "path does not match"))
    if match.codec is not None:
        checks.append((facts.codec in match.codec, f"codec is {facts.codec}"))
    if match.verdict is not None:
        checks.append((facts.verdict in match.verdict, f"verdict is {facts.verdict}"))
    if match.source_codec is not None:
        checks.append((facts.source_codec in match.source_codec, f"source codec is {facts.source_codec}"))
    kbps = None if facts.bitrate is None else facts.bitrate / 1000
    if match.bitrate_min is not None:
        checks.append((kbps is not None and kbps >= match.bitrate_min, f"bitrate {kbps} kbps"))
    if match.bitrate_max is not None:
        checks.append((kbps is not None and kbps <= match.bitrate_max, f"bitrate {kbps} kbps"))
    if match.sample_rate is not None:
        checks.append((facts.sample_rate in match.sample_rate, f"sample rate {facts.sample_rate}"))
    sr = facts.sample_rate or 0
    if match.sample_rate_min is not None:
        checks.append((sr >= match.sample_rate_min, f"sample rate {sr}"))
    if match.sample_rate_max is not None:
        checks.append((sr <= match.sample_rate_max, f"sample rate {sr}"))
    dur = facts.duration or 0.0
    if match.duration_min is not None:
        checks.append((dur >= match.duration_min, f"duration {dur:.0f} s"))
    if match.duration_max is not None:
        checks.append((dur <= match.duration_max, f"duration {dur:.0f} s"))
    if match.channels is not None:
        checks.append((facts.channels in match.channels, f"{facts.channels} channels"))
    if match.source is not None:
        checks.append((facts.source in match.source, f"source is {facts.source}"))
    if match.video is not None:
        checks.append((facts.video == match.video, "it holds video" if facts.video else "it holds no video"))
    for key, pattern in (match.tags or {}).items():
        value = (facts.tags or {}).get(key.lower())
        checks.append((value is not None and _glob(pattern, value), f"tag {key} is {value!r}"))
    for ok, why in checks:
        if not ok:
            return False, why
    return True, "all conditions hold"


def decide(rules: list[tuple[Rule, str]], facts: FileFacts) -> Decision:
    """The first rule whose conditions hold, with why each earlier rule did not; and,
    while a matching rule says `continue = true`, the next one that matches as well."""
    reasons: list[str] = []
    first: tuple[Rule, str] | None = None
    also: list[Rule] = []
    for rule, source in rules:
        ok, why = match_rule(rule.match, facts)
        if not ok:
            if first is None:
                reasons.append(f"rule {rule.name!r} skipped: {why}")
            continue
        if first is None:
            first = (rule, source)
            reasons.append(f"rule {rule.name!r} matches")
        else:
            also.append(rule)
            reasons.append(f"rule {rule.name!r} matches as well (the rule before says continue)")
        if not rule.action.keep_matching:
            break
    if first is None:
        reasons.append("no rule matches: nothing to do")
        return Decision(rule=None, source=None, reasons=reasons)
    return Decision(rule=first[0], source=first[1], reasons=reasons, also=tuple(also))
