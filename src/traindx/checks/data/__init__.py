"""Data checks: class balance and per-class failures (codes TDX5xx)."""
