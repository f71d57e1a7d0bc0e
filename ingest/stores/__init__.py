"""Telemetry stores behind one protocol: InfluxDB v2, InfluxDB v1 and the embedded SQLite store."""
