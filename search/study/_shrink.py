"""Shrink moves: smaller neighbours of a feasible configuration, for the smallest strategy.

TPE models the space as a whole; it does not know that fewer filters, more pooling or a smaller
kernel make a network smaller. A person shrinking a network by hand (Dhingra 2017 did exactly
that) takes the smallest model that holds the floor and makes one part of it smaller. The
planner (search/study/_planner.py, `SmallestFocusPlanner`) does the same for every other
trial once a feasible trial exists: it proposes a random one of the single moves below, applied
to the smallest feasible configuration that still has an untried one. TPE's proposals go on in
between, so the search can still jump elsewhere.

Moves, each on one dimension: a block's filters x SHRINK_FACTOR (at least the space's lower
bound); a block's kernel one choice smaller; its pooling one choice larger; its padding 'same' ->
'valid'; a plain block made separable; the last block dropped; the hidden dense layer x
SHRINK_FACTOR or dropped; the flatten head replaced by global average pooling. A move counts
only if the configuration it gives can be built, is strictly smaller and was never tried.
"""

from __future__ import annotations

import random
from typing import Any

from slimtune.search.study._focus import Describe
from slimtune.spaces import SearchSpace

SHRINK_FACTOR = 0.7  # a third fewer units per step: big enough to move, small enough to hold
SHRINK_ATTR = "shrink_of"  # user attribute of a proposed move: the trial number it shrinks


def shrink_moves(space: SearchSpace, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every single-dimension move of `params` (a trial's Optuna parameters) towards smaller,
    as parameter dicts; some may not be smaller or buildable (see `pick_move`)."""
    moves = []
    blocks = int(params.get("n_blocks", space.blocks[0]))
    for i in range(blocks):
        moves += _block_moves(space, params, i)
    if blocks > space.blocks[0]:
        moves.append({**params, "n_blocks": blocks - 1})
    if params.get("hidden_dense"):
        moves.append({**params, "hidden_dense": False})
        moves += _fewer(params, "dense_units", space.dense_units[0])
    if params.get("head") == "flatten" and "gap" in space.head:
        moves.append({**params, "head": "gap"})
    return moves


def _block_moves(space: SearchSpace, params: dict[str, Any], i: int) -> list[dict[str, Any]]:
    moves = _fewer(params, f"filters_{i}", space.filters[0])
    kernel = params.get(f"kernel_size_{i}")
    smaller = [k for k in space.kernel_size if kernel is not None and k < kernel]
    if smaller:
        moves.append({**params, f"kernel_size_{i}": max(smaller)})
    pool = params.get(f"pool_{i}")
    larger = [p for p in space.pool if pool is not None and p > pool]
    if larger:
        moves.append({**params, f"pool_{i}": min(larger)})
    if params.get(f"padding_{i}") == "same" and "valid" in space.padding:
        moves.append({**params, f"padding_{i}": "valid"})
    if params.get(f"separable_{i}") is False and True in space.separable:
        moves.append({**params, f"separable_{i}": True})
    return moves


def _fewer(params: dict[str, Any], name: str, low: int) -> list[dict[str, Any]]:
    value = params.get(name)
    if value is None:
        return []
    fewer = max(low, int(value * SHRINK_FACTOR))
    return [{**params, name: fewer}] if fewer < value else []


def pick_move(
    space: SearchSpace,
    params: dict[str, Any],
    size: float,
    describe: Describe,
    tried: set[str],
    rng: random.Random,
) -> dict[str, Any] | None:
    """A random move of `params` that describes a configuration smaller than `size` and not in
    `tried` (summaries), with exactly the parameters that configuration uses; None if none."""
    from optuna.trial import FixedTrial

    options = []
    for move in shrink_moves(space, params):
        described = describe(move)
        if described is None or not described[0] < size or described[1] in tried:
            continue
        used = FixedTrial(move)
        space.suggest(used)  # records which parameters the configuration reads
        options.append((described[1], used.params))
    if not options:
        return None
    options.sort(key=lambda option: option[0])  # the random choice must not depend on move order
    return rng.choice(options)[1]
