"""Tests of the devices package: registry, topics, simulator, and the compose stack."""
