"""MQTT session, payload decoding, bounded queues, the durable buffer and telemetry stores."""
