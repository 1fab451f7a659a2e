"""Thin adapters of the probe for training frameworks: ``hf.TraindxTrainerCallback`` and ``lightning.TraindxCallback``.

Each imports its framework only when it is used, and says clearly what to
install when the framework is missing.
"""
