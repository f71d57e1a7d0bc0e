"""Rules, incidents, notifications, preventive maintenance and the relational database,
one subpackage each: engine, incidents, notify, maintenance, db.

Imports: devices (never ingest or api).
"""
