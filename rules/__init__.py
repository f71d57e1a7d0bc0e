"""Rule kinds, evaluation state machine, incidents, notifications and schedules."""
