"""Notifications: routes, the dispatcher, webhook and e-mail delivery, the delivery log,
maintenance windows.

Imports: rules.incidents, rules.db.
"""
