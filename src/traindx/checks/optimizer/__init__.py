"""Optimizer checks (codes TDX3xx)."""
