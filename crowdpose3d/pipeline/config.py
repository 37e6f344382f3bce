"""The declarative pipeline file: YAML with ``${variables}``, validated before anything runs.

    source: {type: video, uri: "${input}"}
    stages:
      - {type: pandanet, model: "${model}"}
      - {type: lift, fov_deg: 60}
      - {type: track}
    sinks:
      - {type: parquet, path: "${output}"}

``${name}`` is filled from ``--set name=value``; ``${name:-default}`` has a default;
``${model}`` and ``${device}`` default to the shipped model and ``auto``. Every
entry is checked against its stage's parameter model, so a typo, a wrong type or an unknown
stage is one line naming the entry and the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.defaults import DEFAULT_VARIABLES
from crowdpose3d.pipeline.stage import (
    StageError,
    StageParams,
    is_custom_stage,
    resolve_stage_class,
)

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """An invalid pipeline file; the message is one line naming the key."""


class RunnerSettings(BaseModel):
    """How stages are joined."""

    model_config = ConfigDict(extra="forbid")
    queue_size: int = Field(8, ge=1)  # frames waiting between two stages
    report_every_s: float = Field(60.0, gt=0)  # periodic stage report for live sources


class StageEntry(BaseModel):
    """One stage as written in the file: its type and its own options."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: StageEntry
    stages: list[StageEntry] = []
    sinks: list[StageEntry] = Field(min_length=1)
    runner: RunnerSettings = RunnerSettings()

    def entries(self) -> list[tuple[str, StageEntry]]:
        """(where, entry) for every stage in run order; ``where`` names it in errors."""
        named = [("source", self.source)]
        named += [(f"stages[{i}]", entry) for i, entry in enumerate(self.stages)]
        named += [(f"sinks[{i}]", entry) for i, entry in enumerate(self.sinks)]
        return named


def fill_variables(text: str, variables: dict[str, str]) -> str:
    """Replace ``${name}`` / ``${name:-default}``; an unset variable without default fails."""

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in variables:
            return variables[name]
        if default is not None:
            return default
        raise ConfigError(f"the pipeline needs ${{{name}}}: pass --set {name}=VALUE")

    return _VARIABLE.sub(replace, text)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}`` (`ConfigError` for a malformed one)."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set expects NAME=VALUE, got {pair!r}")
        values[name.strip()] = value
    return values


def load_pipeline(
    path: str | Path,
    variables: dict[str, str] | None = None,
    allow_custom_stages: bool = False,
) -> PipelineConfig:
    """Read, fill and validate a pipeline file (every stage's options included).

    A pipeline file is code: a ``module:Class`` stage imports and runs that module. So a
    file naming one is refused (`ConfigError`, before anything is imported) unless
    ``allow_custom_stages`` (``--allow-custom-stages``) says the operator trusts it.
    """
    return validate_pipeline(read_pipeline(path, variables), str(path), allow_custom_stages)


def read_pipeline(path: str | Path, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """A pipeline file as a mapping with its variables filled (not yet validated);
    ``${model}`` and ``${device}`` default to `DEFAULT_VARIABLES`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline is a YAML mapping with source, stages, sinks")
    return _fill(data, {**DEFAULT_VARIABLES, **(variables or {})})


def _fill(value: Any, variables: dict[str, str]) -> Any:
    """Fill variables in the string values of parsed YAML (never re-parsed as YAML, so a
    value's quotes, backslashes or colons stay as they are)."""
    if isinstance(value, dict):
        return {key: _fill(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, variables) for item in value]
    if isinstance(value, str):
        filled = fill_variables(value, variables)
        if filled != value and _VARIABLE.fullmatch(value):  # a number stays a number
            for number in (int, float):
                try:
                    return number(filled)
                except ValueError:
                    pass
        return filled
    return value


def validate_pipeline(
    data: dict[str, Any], name: str = "pipeline", allow_custom_stages: bool = True
) -> PipelineConfig:
    """Validate a pipeline given as a mapping (what a YAML file holds). A mapping built in
    Python may name custom stages; ``allow_custom_stages=False`` (a file's default, see
    `load_pipeline`) refuses them before any is imported."""
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{name}: {_first_error(exc)}") from None
    if not allow_custom_stages:
        for where, entry in config.entries():
            if is_custom_stage(entry.type):
                raise ConfigError(
                    f"{name}: {where}: {entry.type!r} is a custom stage, i.e. code that would "
                    "run; pass --allow-custom-stages only if you trust this file"
                )
    for where, entry in config.entries():
        try:
            params_model = getattr(resolve_stage_class(entry.type), "Params", None)
        except StageError as exc:
            raise ConfigError(f"{name}: {where}: {exc}") from None
        if isinstance(params_model, type) and issubclass(params_model, StageParams):
            try:
                params_model.model_validate(entry.options)
            except ValidationError as exc:
                raise ConfigError(f"{name}: {where} ({entry.type}): {_first_error(exc)}") from None
    return config


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
