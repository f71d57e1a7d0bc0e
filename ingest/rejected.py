"""Rejected: the outcome of a message Sitewatch refuses, with a stable reason to count it by."""

from __future__ import annotations


class Rejected(Exception):
    """A message Sitewatch refuses; `reason` is a short stable counter label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
