"""Rule texts that several rules tests load word for word."""

# The whole pack of test_jobs and the first rule of test_reports' pack.
FIRE_ALARM = """
- id: fire-alarm
  title: Fire alarm
  description: Smoke.
  kind: event
  select: {kinds: [smoke_detector]}
  event: alarm
  raises: {type: alert, severity: critical, latching: true, runbook: "Evacuate."}
"""
