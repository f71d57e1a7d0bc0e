"""End to end through the real broker: in-process Service, real Mosquitto, real HTTP server."""
