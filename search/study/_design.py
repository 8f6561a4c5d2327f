"""The initial design: the first trials of a new study walk up from the small, cheap end of the
space instead of drawing at random.

A random start can draw an 86,000-parameter net with a 425-unit dense layer that trains for
minutes on a slow CPU before anything small was tried; under --strategy smallest every trial
larger than the first feasible one is then pruned untrained anyway. The design draws many
configurations (a seeded random draw, measured analytically, nothing trained), splits their
parameter counts into equal bins on a log scale, takes the configuration with the median MACs of
each bin, and queues them smallest first. The sampler (TPE) counts them as its startup trials.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from slimtune.spaces import SearchSpace, footprint

DESIGN_ATTR = "slimtune.design"  # a trial's rank in the initial design
ATTR_DESIGNED = "slimtune.designed"  # study attribute: the design was queued (its size)
DRAWS = 2_000  # configurations measured to place the design (about 0.5 s)
DESIGN_SIZE = 10  # TPE's own number of startup trials


class _RandomDraw:
    """A seeded random `spaces.Suggester` that remembers what it drew."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.params: dict[str, Any] = {}

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        if log:
            value = round(math.exp(self.rng.uniform(math.log(low), math.log(high))))
        else:
            value = int(self.rng.integers(low, high + 1))
        self.params[name] = value = min(max(value, low), high)
        return value

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.params[name] = value = choices[int(self.rng.integers(len(choices)))]
        return value


def small_first_design(
    space: SearchSpace,
    input_shape: tuple[int, int, int],
    num_classes: int,
    size: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Up to `size` parameter sets of `space`, one per log-spaced band of parameter counts (the
    median in MACs of each: neither the cheapest, mostly a dense layer on one filter, nor the
    costliest to train), smallest first."""
    rng = np.random.default_rng(seed)
    drawn: dict[str, tuple[int, int, dict[str, Any]]] = {}
    for _ in range(DRAWS):
        draw = _RandomDraw(rng)
        config = space.suggest(draw)
        try:
            fp = footprint(config, input_shape, num_classes)
        except ValueError:  # e.g. pooled below one pixel: not a buildable point
            continue
        drawn.setdefault(config.summary(), (fp.params, fp.macs, draw.params))
    if not drawn:
        return []
    points = sorted(drawn.values(), key=lambda p: (p[0], p[1]))
    low, high = math.log(points[0][0]), math.log(points[-1][0])
    width = (high - low) / size or 1.0
    bands: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
    for point in points:
        bands.setdefault(min(int((math.log(point[0]) - low) / width), size - 1), []).append(point)
    chosen = []
    for band in bands.values():
        by_cost = sorted(band, key=lambda p: (p[1], p[0]))
        chosen.append(by_cost[(len(by_cost) - 1) // 2])
    return [values for _, _, values in sorted(chosen, key=lambda p: (p[0], p[1]))]


def queue_design(
    study: optuna.Study,
    space: SearchSpace,
    input_shape: tuple[int, int, int],
    num_classes: int,
    trials: int,
    seed: int,
) -> int:
    """Queue the initial design in a study that has not got one; returns how many were queued.
    Crash-safe: a study marked designed is left alone, and one stopped while queueing is
    completed on the next open (Optuna skips parameter sets already in the study)."""
    if ATTR_DESIGNED in study.user_attrs:
        return 0
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        study.set_user_attr(ATTR_DESIGNED, 0)  # a study from before the design: keep its start
        return 0
    design = small_first_design(space, input_shape, num_classes, min(DESIGN_SIZE, trials), seed)
    for rank, params in enumerate(design):
        study.enqueue_trial(params, user_attrs={DESIGN_ATTR: rank}, skip_if_exists=True)
    study.set_user_attr(ATTR_DESIGNED, len(design))
    return len(design)
