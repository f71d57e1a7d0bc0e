"""The incident state machine: which action moves which kind from which state to which."""

from __future__ import annotations

from rules.incidents.record import IllegalTransition

# (kind, action) -> {from_state: to_state}; `comment` is allowed in every state and never
# moves the incident, so it is not in the table.
TRANSITIONS: dict[tuple[str, str], dict[str, str]] = {
    ("alert", "acknowledge"): {"active": "acknowledged"},
    ("alert", "resolve"): {"active": "resolved", "acknowledged": "resolved"},
    ("ticket", "assign"): {
        "open": "assigned",
        "assigned": "assigned",
        "in_progress": "in_progress",
    },
    ("ticket", "start"): {"open": "in_progress", "assigned": "in_progress"},
    ("ticket", "resolve"): {"open": "resolved", "assigned": "resolved", "in_progress": "resolved"},
    ("ticket", "cancel"): {
        "open": "cancelled",
        "assigned": "cancelled",
        "in_progress": "cancelled",
    },
}

# The timeline verb for each action.
PAST_TENSE = {
    "acknowledge": "acknowledged",
    "assign": "assigned",
    "start": "started",
    "resolve": "resolved",
    "cancel": "cancelled",
    "comment": "commented",
}


# Why an action does not apply to a kind at all, for the 409's message.
HINTS = {
    ("ticket", "acknowledge"): (
        "tickets are not acknowledged; assign it (POST .../assign, no body assigns you) or "
        "start work (POST .../start): either is the ticket's first response and stops its "
        "respond-by clock"
    ),
    ("alert", "assign"): "alerts are acknowledged (POST .../acknowledge), not assigned",
    ("alert", "start"): "alerts are acknowledged (POST .../acknowledge), not started",
    ("alert", "cancel"): "alerts are resolved with a note (POST .../resolve), not cancelled",
}


def next_state(incident_id: int, kind: str, action: str, state: str) -> str:
    """The state after `action`, or IllegalTransition carrying the current state."""
    if action == "comment":
        return state
    to_state = TRANSITIONS.get((kind, action), {}).get(state)
    if to_state is None:
        raise IllegalTransition(incident_id, action, state, HINTS.get((kind, action), ""))
    return to_state
