"""Expected errors: the CLI prints them as one line on stderr and exits with code 2."""
from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user. The message names the bad value and the fix."""
