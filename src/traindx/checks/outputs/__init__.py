"""Output checks: generated samples (codes TDX7xx)."""
