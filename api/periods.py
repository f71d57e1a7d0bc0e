"""The period of a report-like endpoint: `from` and `to` in, [start, end) in UTC out, with the
default (the last 30 days) and the longest period (366 days) they all share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Query
from fastapi.exceptions import RequestValidationError

DEFAULT_PERIOD = timedelta(days=30)  # the period when `from` is not given
PERIOD_MAX = timedelta(days=366)  # longer periods get 422: one pass reads every incident

# The query parameters, as every such endpoint declares them (name, default, description).
PeriodFrom = Annotated[
    datetime | None, Query(alias="from", description="RFC 3339; default: to - 30 days")
]
PeriodTo = Annotated[datetime | None, Query(description="RFC 3339, exclusive; default: now")]


class BadPeriod(Exception):
    """A period that cannot be read: the query field at fault, why, and what was given."""

    def __init__(self, field: str, msg: str, value: datetime | None, *, too_long: bool) -> None:
        super().__init__(msg)
        self.field, self.msg, self.value, self.too_long = field, msg, value, too_long

    def unprocessable(self) -> RequestValidationError:
        """422 naming the field."""
        return RequestValidationError([{"type": "value_error", "loc": ["query", self.field],
                                        "msg": self.msg, "input": str(self.value)}])

    def answer(self) -> HTTPException | RequestValidationError:
        """The reports' answer: 422 for a period too long, else 400 saying what is wrong."""
        if self.too_long:
            return self.unprocessable()
        verb = "is " if self.field == "to" else ""
        return HTTPException(400, f"`{self.field}` {verb}{self.msg}")


def aware(value: datetime) -> datetime:
    """`value` in UTC (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period(from_: datetime | None, to: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end): `to` defaults to now, `from` to DEFAULT_PERIOD before it (BadPeriod)."""
    end = aware(to) if to is not None else now
    try:
        start = aware(from_) if from_ is not None else end - DEFAULT_PERIOD
    except OverflowError:
        raise BadPeriod("to", "too early for a default period; give `from`", to,
                        too_long=False) from None
    if start >= end:
        raise BadPeriod("from", "must be before `to`", from_, too_long=False)
    if end - start > PERIOD_MAX:
        raise BadPeriod("from", f"the period is longer than {PERIOD_MAX.days} days", from_,
                        too_long=True)
    return start, end
