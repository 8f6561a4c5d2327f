"""The seed scheme, in one place: search seeds and fresh confirmation seeds never overlap."""

from __future__ import annotations

from slimtune.search._errors import UsageError

MAX_SEEDS = 100  # confirmation seeds start CONFIRMATION_OFFSET above the search seeds
CONFIRMATION_OFFSET = 500
BASE_STRIDE = 1000  # seed base b owns seeds 1000*b .. 1000*b + 999


def check_seed_count(count: int) -> None:
    """UsageError naming --seeds unless 1 <= count <= MAX_SEEDS."""
    if count < 1:
        raise UsageError(f"--seeds {count}: use a whole number of 1 or more")
    if count > MAX_SEEDS:
        raise UsageError(
            f"--seeds {count}: use at most {MAX_SEEDS} (confirmation seeds must stay fresh)"
        )


# numpy and TensorFlow take seeds in [0, 2**32): the largest base whose seeds all fit
MAX_SEED_BASE = (2**32 - CONFIRMATION_OFFSET - MAX_SEEDS) // BASE_STRIDE


def check_seed_base(base: int) -> None:
    """UsageError naming --seed unless its seeds (search and confirmation) are valid seeds."""
    if not 0 <= base <= MAX_SEED_BASE:
        raise UsageError(f"--seed {base}: use a whole number from 0 to {MAX_SEED_BASE}")


def search_seeds(base: int, count: int) -> list[int]:
    """The seeds every trial of a study trains with (also `slimtune train` and `evaluate`)."""
    return [BASE_STRIDE * base + k for k in range(count)]


def confirmation_seeds(base: int, count: int) -> list[int]:
    """Fresh seeds for confirmation on the test split: never used during the search."""
    return [BASE_STRIDE * base + CONFIRMATION_OFFSET + k for k in range(count)]


def seed_groups(seeds: list[int], workers: int) -> list[list[int]]:
    """The seeds split into one training task per worker, in order (contiguous groups whose
    sizes differ by at most one). A trainer that packs seeds (search/training/_packed.py) trains
    a group in one pass; one that trains them one after another takes no more rounds than one
    task per seed would."""
    count = max(1, min(workers, len(seeds)))
    size, extra = divmod(len(seeds), count)
    groups, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        groups.append(list(seeds[start:end]))
        start = end
    return groups
