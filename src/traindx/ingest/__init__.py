"""Ingest: one reader per format, ``discover`` to walk, sniff, read and merge."""
