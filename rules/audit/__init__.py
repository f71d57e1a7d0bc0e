"""The audit log (SPEC §8.6): who changed what through the API or the CLI, and when."""
