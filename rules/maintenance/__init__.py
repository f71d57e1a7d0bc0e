"""Preventive maintenance: schedules (calendar or meter) and their configuration.

Imports: devices, rules.incidents, rules.db.
"""
