"""The HTTP API, the console, the CLI and the composition root that wires ingest, rules
and devices.

Imports: everything; nothing imports api.
"""
