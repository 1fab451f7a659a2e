"""Loss-curve checks (codes TDX1xx)."""
