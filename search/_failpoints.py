"""Fault injection for crash-safety tests, in the spirit of Ray's testing failpoints.

`SLIMTUNE_FAULTS` names a JSON file; when it is unset (always, outside tests) nothing here runs.
Keys, each a regular expression matched against a configuration's summary (e.g. "c5x"):

- ``nan_when``: train that configuration with a NaN learning rate, so Keras's loss really becomes
  NaN and the trainer's own NaN check fires.
- ``raise_when``: raise ``InjectedFault`` in the task before training.
- ``record_to``: a file to which each training task appends "<pid> <trial|confirm> <summary>",
  so a test can count what was trained (and retrained).
- ``pause_s``: seconds each training task waits after that record, before training, so a test
  that kills a task's worker or node "mid-trial" has a window that does not depend on how fast
  training is.
- ``kill_at``: one of `FAIL_POINTS`; the driver SIGKILLs itself the ``kill_on_hit``-th time
  (default 1) it reaches that point in this process, so a test can stop it at every seam in turn
  instead of hoping a random moment hits one (tests/integration/test_faults.py,
  test_driver_killed_at_every_seam_then_resumed).

The file is read where it is used (inside the Ray task, at each fail point), so a test can change
it while a search runs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import time
from collections import Counter
from typing import Any

ENV_VAR = "SLIMTUNE_FAULTS"

# The driver's seams, in the order a search reaches them. A kill at any of them must leave a study
# that the same command resumes (README "When things go wrong").
FAIL_POINTS = (
    "trial.asked",  # Optuna asked a trial; nothing about it recorded yet
    "trial.recorded",  # its configuration and footprint recorded, not yet submitted
    "trial.submitted",  # its training handed to the executor
    "trial.told",  # Optuna told how it ended; no MLflow run yet
    "run.created",  # inside the child run's writes: the run exists, nothing in it
    "run.model_logged",  # params, metrics and the model written; not marked complete
    "run.complete",  # marked complete; not yet ended (still RUNNING in MLflow)
    "models.attaching",  # trials recorded; spooled models not yet attached (--log-models)
    "confirm.trained",  # a candidate retrained with fresh seeds; not yet stored
    "confirm.tested",  # the pick's test accuracies stored; no confirmation run yet
    "confirm.logged",  # the confirmation run written; its id not yet stored
    "register.created",  # a registry version created; no tags, no alias
    "register.aliased",  # alias set; the version not yet stored in the study
    "result.writing",  # everything stored; result.json not yet written
)
_hits: Counter[str] = Counter()


class InjectedFault(RuntimeError):
    """Raised where a test asked for a failure."""


class FaultsFileError(ValueError):
    """The file SLIMTUNE_FAULTS names cannot be read or is not a JSON object."""


def fail_point(name: str) -> None:
    """Kill this process here (SIGKILL: no cleanup runs) if the faults file asks for `name`."""
    if name not in FAIL_POINTS:
        raise ValueError(f"unknown fail point {name!r}; add it to FAIL_POINTS")
    faults = _faults()
    if faults.get("kill_at") != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(faults.get("kill_on_hit", 1)):
        os.kill(os.getpid(), signal.SIGKILL)


def apply_faults(summary: str, recipe: Any, kind: str = "trial") -> Any:
    """The recipe to train with: unchanged unless a test asked for a fault on `summary`."""
    faults = _faults()
    if not faults:
        return recipe
    if faults.get("record_to"):
        with open(faults["record_to"], "a") as record:
            record.write(f"{os.getpid()} {kind} {summary}\n")
    if faults.get("pause_s"):
        time.sleep(float(faults["pause_s"]))
    if faults.get("raise_when") and re.search(faults["raise_when"], summary):
        raise InjectedFault(f"injected fault for {summary}")
    if faults.get("nan_when") and re.search(faults["nan_when"], summary):
        # Past the Recipe's own check on purpose: the trainer's NaN-loss handling is under test.
        broken = copy.copy(recipe)
        object.__setattr__(broken, "learning_rate", float("nan"))
        return broken
    return recipe


def _faults() -> dict[str, Any]:
    path = os.environ.get(ENV_VAR)
    if not path:
        return {}
    # A faults file that cannot be read or parsed is a broken test, not "no faults": ignoring it
    # would let a crash-safety test pass without injecting anything.
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise FaultsFileError(f"{ENV_VAR}={path}: cannot read it ({exc.strerror})") from None
    if not text.strip():
        return {}  # caught between a rewrite's truncation and its write: no faults yet
    try:
        faults = json.loads(text)
    except ValueError as exc:
        raise FaultsFileError(f"{ENV_VAR}={path}: not valid JSON ({exc})") from None
    if not isinstance(faults, dict):
        raise FaultsFileError(f'{ENV_VAR}={path}: use a JSON object such as {{"kill_at": ...}}')
    return faults
