"""What an operation refuses, worded for the person who asked (the API maps each to a status)."""

from __future__ import annotations


class OperationError(Exception):
    """Base of the refusals below."""


class InvalidField(OperationError):
    """A field's value is not acceptable (API: 422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownTarget(OperationError):
    """The target (site, zone, device) or the item asked for does not exist (API: 404)."""


class AlreadyEnded(OperationError):
    """The item has ended already (API: 409)."""


class NotAllowed(OperationError):
    """The caller's role may not do this to this target (API: 403)."""
