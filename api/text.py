"""Text types for request bodies: control characters are refused with 422 (SPEC §7).

`Line` is one line (a title, a name, a zone): no control character at all, so a value can
never start a new header in an e-mail or a new line in a log. `Prose` is free text (a
description, a note) that may hold line breaks and tabs, and nothing else below 0x20.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PROSE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def check_line(value: str) -> str:
    """The value, or ValueError when it holds a control character (line breaks included)."""
    found = _LINE_BAD.search(value)
    if found is not None:
        raise ValueError(f"control character {found.group()!r} is not allowed in this field")
    return value


def check_prose(value: str) -> str:
    """The value, or ValueError when it holds a control character other than \\n, \\r, \\t."""
    found = _PROSE_BAD.search(value)
    if found is not None:
        raise ValueError(f"control character {found.group()!r} is not allowed in this field")
    return value


Line = Annotated[str, AfterValidator(check_line)]
Prose = Annotated[str, AfterValidator(check_prose)]
