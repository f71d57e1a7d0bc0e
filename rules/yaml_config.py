"""Loading a YAML file of `key: [entries]` into pydantic models, errors naming file and field."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

FileModel = TypeVar("FileModel", bound=BaseModel)


def parse_yaml_model(
    text: str,
    source: str,
    model: type[FileModel],
    error: type[Exception],
    entries: tuple[str, str] | None = None,  # (list key, entry noun): name entries by `id`
) -> FileModel:
    """`model` from YAML text; a bad file raises `error("SOURCE: FIELD: reason")`.

    With `entries`, a field inside the list is named by its entry's `id` (or its index):
    `schedule 'filter-q' .cron` rather than `schedules.3.cron`.
    """
    raw: Any = None
    try:
        raw = yaml.safe_load(text) or {}
        return model.model_validate(raw)
    except yaml.YAMLError as e:
        raise error(f"{source}: not valid YAML: {e}") from e
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(p) for p in first["loc"]]
        where = ".".join(loc)
        if entries is not None and len(loc) > 1 and loc[0] == entries[0] and loc[1].isdigit():
            entry = raw[entries[0]][int(loc[1])]
            name = entry.get("id") if isinstance(entry, dict) else None
            label = f"{entries[1]} {name!r}" if name else f"{entries[1]} #{loc[1]}"
            where = ".".join([label, *loc[2:]])
        raise error(f"{source}: {where}: {first['msg']}") from e
