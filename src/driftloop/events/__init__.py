"""Drift events: the model, signing and delivery, receiving once, the local retrain runner."""
