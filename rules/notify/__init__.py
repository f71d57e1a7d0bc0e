"""Notifications: routes (routes.py), the change-feed intake that logs deliveries (intake.py),
the dispatcher (dispatcher.py) with one lane per route (lanes.py) and its circuit breaker
(breaker.py), webhook and e-mail delivery, the delivery log, maintenance windows.

Imports: rules.incidents, rules.db.
"""
