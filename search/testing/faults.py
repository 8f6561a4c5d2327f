"""Fault injection for crash-safety tests, in the spirit of Ray's testing failpoints.

`SLIMTUNE_FAULTS` names a JSON file; when it is unset (always, outside tests) nothing here runs.
Keys, each a regular expression matched against a configuration's summary (e.g. "c5x"):

- ``nan_when``: train that configuration with a NaN learning rate, so Keras's loss really becomes
  NaN and the trainer's own NaN check fires.
- ``raise_when``: raise ``InjectedFault`` in the task before training.
- ``record_to``: a file to which each training task appends "<pid> <trial|confirm> <summary>",
  so a test can count what was trained (and retrained).

The file is read inside the Ray task, so a test can change it while a search runs.
"""
from __future__ import annotations

import json
import os
import re
import copy
from typing import Any

ENV_VAR = "SLIMTUNE_FAULTS"


class InjectedFault(RuntimeError):
    """Raised where a test asked for a failure."""


def apply_faults(summary: str, recipe: Any, kind: str = "trial") -> Any:
    """The recipe to train with: unchanged unless a test asked for a fault on `summary`."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return recipe
    try:
        with open(path) as handle:
            faults: dict[str, str] = json.load(handle)
    except (OSError, ValueError):
        return recipe
    if faults.get("record_to"):
        with open(faults["record_to"], "a") as record:
            record.write(f"{os.getpid()} {kind} {summary}\n")
    if faults.get("raise_when") and re.search(faults["raise_when"], summary):
        raise InjectedFault(f"injected fault for {summary}")
    if faults.get("nan_when") and re.search(faults["nan_when"], summary):
        # Past the Recipe's own check on purpose: the trainer's NaN-loss handling is under test.
        broken = copy.copy(recipe)
        object.__setattr__(broken, "learning_rate", float("nan"))
        return broken
    return recipe
