"""What a device is: kinds, metrics, the registry, topics, readings and liveness.

Imports nothing of Sitewatch's other packages.
"""
