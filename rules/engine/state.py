"""Per (rule, device) evaluation state, and where it is kept so a restart resumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Phase = Literal["inactive", "pending", "firing", "clearing"]
StateKey = tuple[str, str]  # (rule_id, device_id)


@dataclass(slots=True)
class RuleState:
    """The state machine of one rule for one device.

    inactive -> pending (condition seen, hold running since `since`) -> firing -> clearing
    (clear condition seen, clear hold running since `since`) -> inactive.
    `memo` holds what a rule kind needs between readings (window samples, last meter
    multiple, last value): JSON-serialisable, small.
    """

    phase: Phase = "inactive"
    since: float = 0.0  # Unix seconds the current phase began
    memo: dict[str, Any] = field(default_factory=dict)
    site: str = ""
    zone: str | None = None
    device_kind: str | None = None


class StateUnavailable(Exception):
    """Rule state cannot be read or written now (the database is down): retry later."""


class StateStore(Protocol):
    """Durable home of RuleState; the SQL one lives beside the incidents."""

    def load_all(self) -> dict[StateKey, RuleState]:
        """Every saved state, at start."""
        ...

    def save(self, key: StateKey, state: RuleState) -> None:
        """Persist one state (called on every phase change and memo change that matters)."""
        ...

    def delete(self, key: StateKey) -> None:
        """Forget one state (back to inactive with nothing to remember)."""
        ...


class MemoryStateStore:
    """StateStore in a dict: for tests and backtests."""

    def __init__(self) -> None:
        self.states: dict[StateKey, RuleState] = {}

    def load_all(self) -> dict[StateKey, RuleState]:
        """A copy of everything saved."""
        return dict(self.states)

    def save(self, key: StateKey, state: RuleState) -> None:
        """Keep the state."""
        self.states[key] = state

    def delete(self, key: StateKey) -> None:
        """Drop the state if present."""
        self.states.pop(key, None)
