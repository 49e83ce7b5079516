"""Tests of the prediction service."""
