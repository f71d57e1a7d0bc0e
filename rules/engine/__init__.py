"""Rules and their evaluation: rule kinds (pydantic), the loader, per-kind conditions, the evaluator
and its state, signals, durations, the built-in pack, and the worker that feeds readings in.

Imports: devices, and nothing of ingest, api or the other rules packages but db.
"""
