"""Loading YAML specs into typed models, with errors that name the file and the key.

Every spec of the project (``features/``, ``models/``, ``experiments/``) goes
through :func:`load_yaml_model`, so a bad file reads the same everywhere::

    models/churn.yaml: key 'params.num_leafs': Extra inputs are not permitted
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class SpecError(ValueError):
    """A spec file is malformed; the message names the file and the key."""


def format_validation_error(exc: ValidationError) -> str:
    """pydantic's errors as "key 'a.b': message; ..." for one-line messages."""
    return "; ".join(f"key '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """Read ``path`` as YAML and validate it as ``model``.

    Raises
    ------
    SpecError
        When the file cannot be read, is not a mapping, or fails validation (an
        unknown key included); the message names the file and each bad key.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of keys to values, found {type(data).__name__}")
    try:
        return model(**data)
    except ValidationError as exc:
        raise SpecError(f"{path}: {format_validation_error(exc)}") from exc
