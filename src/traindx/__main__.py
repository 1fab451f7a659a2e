"""``python -m traindx`` runs the command line."""

from traindx.cli.app import main

main()
