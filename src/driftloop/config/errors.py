"""Errors a user can act on, with the CLI exit code each maps to."""

from __future__ import annotations


class DriftloopError(Exception):
    """Base error: a message a user can act on."""

    exit_code = 1


class InputError(DriftloopError):
    """Bad input from the user: a missing file, a bad config, data that breaks its spec."""

    exit_code = 2


class NotFoundError(DriftloopError):
    """Something that should exist in the store or registry does not (run an earlier step)."""

    exit_code = 2


class UnsupportedPipelineError(DriftloopError):
    """The pipeline is not a shape the compiler knows; serve it through sklearn instead."""
