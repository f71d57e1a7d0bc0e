"""The HTTP API, the CLI and the composition root that wires ingest, rules and devices."""
