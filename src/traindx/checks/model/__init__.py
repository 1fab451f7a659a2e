"""Model and code checks (codes TDX8xx): the checkpoint's parameters and weights, and the static lint of the training code."""
