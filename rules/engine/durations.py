"""Durations in rules and config files: seconds, or strings like '30s', '15m', '4h', '2d'."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(v: Any) -> float:
    """Seconds from a number of seconds or a string like '30s', '15m', '4h', '2d'."""
    if isinstance(v, bool):
        raise ValueError("a duration is seconds or a string like '30s', '15m', '4h', '2d'")
    if isinstance(v, int | float):
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"duration {v!r} must be a finite number of seconds >= 0")
        return float(v)
    if isinstance(v, str):
        m = _DURATION_RE.match(v)
        if m:
            return float(m.group(1)) * _UNIT_S[m.group(2)]
    raise ValueError(f"duration {v!r} is not seconds or a string like '30s', '15m', '4h', '2d'")


def format_duration(seconds: float) -> str:
    """'15m' for 900.0: the largest whole unit, for messages."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNIT_S[unit] and seconds % _UNIT_S[unit] == 0:
            return f"{int(seconds // _UNIT_S[unit])}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]  # seconds
