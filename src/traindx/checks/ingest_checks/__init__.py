"""Checks on what the logs say in words: warnings and messages (codes TDX9xx)."""
