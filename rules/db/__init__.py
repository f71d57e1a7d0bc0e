"""The relational database: engine per dialect, the one schema module with every table, Alembic
migrations, and the stores of rule state and device state.

Imports: devices (for device state) and rules.engine's state types.
"""
