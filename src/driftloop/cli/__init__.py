"""The `driftloop` command line (Typer app and its Rich views)."""
