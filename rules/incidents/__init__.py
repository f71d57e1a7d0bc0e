"""Incidents (SPEC §6): the record and its lifecycle, opening from signals, clocks
(escalation, SLA), queries, rows, reports.

Imports: devices, rules.engine (signals, rule parts), rules.db.
"""
