"""What a device is: kinds, metrics, the registry, topics, readings and the simulator."""
