"""The simulator: simulated devices, the demo scenario, signal shapes and the broker link.

Imports: devices.
"""
