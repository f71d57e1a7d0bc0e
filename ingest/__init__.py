"""MQTT session, payload decoding, bounded queues, the durable log and its consumers.

Imports: devices (never rules or api).
"""
