"""The relational tables by area; rules/db/schema.py gathers them (import from there)."""
