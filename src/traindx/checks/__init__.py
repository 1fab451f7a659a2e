"""Checks: small pure functions ``Run -> symptoms``, one per file, grouped by family."""
