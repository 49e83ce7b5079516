"""driftloop: keep a deployed tabular model healthy."""

__version__ = "0.1.0"
