"""Expected errors: the CLI prints them as one line on stderr and exits with code 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user. The message names the bad value and the fix."""


class StorageLost(Exception):
    """The study's database stopped answering for longer than the driver rides out, or a write's
    outcome could not be known: the CLI prints the message as one line and exits with code 5;
    the same command resumes the study."""
