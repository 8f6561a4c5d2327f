"""Errors of the way to a device and to a cluster; the CLI maps them to exit codes."""

from __future__ import annotations


class DeployError(ValueError):
    """Bad input to pull, export-template, train or the Ray Jobs commands: the message names the
    value and the fix (exit code 2)."""


class ExportBelowFloor(RuntimeError):
    """The exported file's test accuracy is below the floor, so nothing was written (exit 4)."""
