"""Shrink moves (search/study/_shrink.py): smaller single-dimension neighbours of a
configuration."""

from __future__ import annotations

import random

from slimtune.search.study._shrink import pick_move, shrink_moves
from slimtune.spaces import SearchSpace, footprint, load_space

SPACE = load_space()
PARAMS = {
    "n_blocks": 2,
    "kernel_size_0": 7,
    "separable_0": False,
    "filters_0": 12,
    "pool_0": 2,
    "padding_0": "same",
    "kernel_size_1": 3,
    "separable_1": True,
    "filters_1": 10,
    "pool_1": 4,
    "padding_1": "valid",
    "batch_norm": False,
    "head": "flatten",
    "hidden_dense": True,
    "dense_units": 30,
    "dropout": 0.0,
}


def describe(params):
    from optuna.trial import FixedTrial

    try:
        config = SPACE.suggest(FixedTrial(params))
    except ValueError:
        return None
    try:
        return footprint(config, (28, 28, 1), 10).params, config.summary()
    except ValueError:
        return float("inf"), config.summary()


def test_each_move_changes_one_dimension_towards_smaller():
    changed = [
        {k for k in PARAMS if move.get(k) != PARAMS[k]} for move in shrink_moves(SPACE, PARAMS)
    ]
    assert all(len(keys) == 1 for keys in changed)
    moved = {key for keys in changed for key in keys}
    assert moved == {
        "filters_0",
        "kernel_size_0",
        "pool_0",
        "padding_0",
        "separable_0",
        "filters_1",
        "kernel_size_1",
        "n_blocks",
        "hidden_dense",
        "dense_units",
        "head",
    }  # block 1 is separable, 'valid' and at the largest pooling already
    fewer = next(m for m in shrink_moves(SPACE, PARAMS) if m["filters_0"] != 12)
    assert fewer["filters_0"] == 8  # 12 x 0.7, rounded down


def test_a_picked_move_is_smaller_untried_and_names_only_the_parameters_it_uses():
    size, summary = describe(PARAMS)
    rng = random.Random(0)
    seen = {summary}
    for _ in range(20):
        move = pick_move(SPACE, PARAMS, size, describe, seen, rng)
        if move is None:
            break
        moved_size, moved_summary = describe(move)
        assert moved_size < size and moved_summary not in seen
        if move.get("hidden_dense") is False:
            assert "dense_units" not in move and "dropout" not in move
        seen.add(moved_summary)
    assert len(seen) > 5  # every move is tried once, then none is left
    assert pick_move(SPACE, PARAMS, size, describe, seen, rng) is None


def test_a_move_that_does_not_shrink_the_size_is_never_picked():
    from optuna.trial import FixedTrial

    # One block at its lowest filters and largest pooling, a GAP head: only 'same' -> 'valid' is
    # left, and padding does not change the parameter count.
    tight = SearchSpace(
        blocks=(1, 1),
        kernel_size=(3,),
        filters=(2, 8),
        pool=(1, 2),
        padding=("same", "valid"),
        separable=(False,),
        head=("gap",),
        dense_units=(8, 8),
        dense_optional=False,
        dropout=(0.0,),
    )
    params = {"kernel_size_0": 3, "filters_0": 2, "pool_0": 2, "padding_0": "same"}

    def describe_tight(p):
        config = tight.suggest(FixedTrial(p))
        return footprint(config, (28, 28, 1), 10).params, config.summary()

    assert [m["padding_0"] for m in shrink_moves(tight, params)] == ["valid"]
    size = describe_tight(params)[0]
    assert pick_move(tight, params, size, describe_tight, set(), random.Random(0)) is None
