"""Strict YAML loading shared by the routing, registry and pars loaders.

Config is read strictly: a YAML syntax error, a duplicated mapping key (which PyYAML would silently
overwrite) or a pydantic validation error becomes a :class:`~streamcal.errors.ConfigError` that names the
file and the offending key path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from streamcal.errors import ConfigError

__all__ = ["StrictModel", "default_config_dir", "load_model", "read_yaml"]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and the result is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def default_config_dir() -> Path:
    """Return the configuration folder shipped with streamcal (``pipelines.yaml``, ``routing.yaml``, ``pars/``).

    It is the package data ``streamcal/configs``, read with :mod:`importlib.resources`, so an installed wheel
    finds it (issue 14). In the source tree ``streamcal/configs`` is a symlink to the repository's ``configs/``:
    one copy in git, and the build copies the files into the wheel. ``STREAMCAL_CONFIG_DIR`` or ``--config``
    replace it (``services.settings``). This is the only place that locates the shipped configuration.

    Raises
    ------
    ConfigError
        streamcal is installed where its data are not a folder on disk (a zip import) or the folder is
        missing (a source tree checked out without symlinks). Not retriable.
    """
    folder = resources.files("streamcal") / "configs"
    if not isinstance(folder, Path) or not folder.is_dir():
        raise ConfigError(f"{folder}: streamcal's configuration folder is not a folder on disk; set "
                          "STREAMCAL_CONFIG_DIR (or --config) to a copy of the repository's configs/")
    return folder.resolve()


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicated keys in a mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> object:
    """Read one YAML document.

    Raises
    ------
    ConfigError
        The file cannot be read, is not valid YAML, or repeats a key. Not retriable.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # safe: a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "<top level>"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{loc}: {message}")
    return "; ".join(lines)


def load_model(path: Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model``.

    Raises
    ------
    ConfigError
        Unreadable, invalid YAML, or invalid content; the message names the file and each problem.
        Not retriable.
    """
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_format(exc)}") from exc
