"""The command line: one module per command, joined in one Typer app (``app.py``)."""
