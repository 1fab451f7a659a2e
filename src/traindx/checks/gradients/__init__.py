"""Gradient and activation checks (codes TDX2xx)."""
