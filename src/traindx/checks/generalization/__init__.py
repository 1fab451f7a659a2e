"""Generalization checks: training against held-out curves (codes TDX4xx)."""
