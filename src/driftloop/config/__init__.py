"""Configuration layer: environment settings, the data set's spec, shared error types."""
