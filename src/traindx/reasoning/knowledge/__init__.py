"""Data files of the failure-mode catalog."""
