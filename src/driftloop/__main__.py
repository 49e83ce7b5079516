"""``python -m driftloop`` runs the CLI."""

from driftloop.cli.app import main

main()
