"""Tests of ingest: decoding, buffer, stores."""
