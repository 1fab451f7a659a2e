"""Renderers: each takes the same Diagnosis (JSON is the source of truth)."""
