"""What a training is asked to do and what it gives back: the one contract between the planner,
the executors and the two trainers (slimtune's own blocks in `_trainer.py`, a user's HyperModel
in `_generic.py`)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from slimtune.spaces import CNNConfig, HyperModelConfig, Recipe

if TYPE_CHECKING:
    from slimtune.search._data import Split

KINDS = ("trial", "confirm")


@dataclass(frozen=True)
class Promotion:
    """A near miss of the first rung trains again with `recipe` (the full recipe): a trial whose
    worst seed reached `near_miss_accuracy` after all of the first rung's epochs, yet stayed
    below the racing threshold."""

    recipe: Recipe
    near_miss_accuracy: float


@dataclass(frozen=True)
class TrainingRequest:
    """Train `config` once per seed under `recipe` and measure it on the validation split (and
    the held-out split, if one is sent with the request).

    `required_accuracy`: the racing threshold (the validation floor, or the best smaller trial's
    worst case under `--strategy front`): the first seed trains alone and the others only if it
    can still reach it; the outcome of a trial that cannot has `stopped_reason` set. `promotion`
    retrains a near miss under the full recipe. `curves` validates after every epoch even without
    racing. `keep_model` saves the median seed's model; `every_model` every seed's. `pack`
    overrides whether the seeds train packed into one network (None: the trainer decides).
    `threads`: TensorFlow threads (the executor sets its own). `kind` names the training in
    fault-injection records: a search "trial" or a "confirm"ation. `int8_calibration`: float32
    training images in [0, 1]; with a held-out split and `every_model`, each seed's model is
    also converted to the full-integer int8 LiteRT file calibrated on them and measured on the
    held-out split by the LiteRT interpreter (None: float only)."""

    config: CNNConfig | HyperModelConfig
    recipe: Recipe
    seeds: tuple[int, ...]
    required_accuracy: float | None = None
    promotion: Promotion | None = None
    curves: bool = False
    keep_model: bool = True
    every_model: bool = False
    pack: bool | None = None
    threads: int = 1
    kind: str = "trial"
    int8_calibration: Any = field(default=None, compare=False)  # numpy array, or None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(seed) for seed in self.seeds))
        if not self.seeds:
            raise ValueError("seeds = (): give at least one seed")
        if self.threads < 1:
            raise ValueError(f"threads = {self.threads}: use 1 or more")
        if self.kind not in KINDS:
            raise ValueError(f"kind = {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.int8_calibration is not None and not len(self.int8_calibration):
            raise ValueError("int8_calibration: give at least one image, or None")


class TrainingFailed(RuntimeError):
    """The configuration could not be trained (for example its loss became NaN)."""


@dataclass
class SeedsOutcome:
    """Per-seed results in seed order; `model_keras` is the saved model of the median seed.

    A trial stopped early (`stopped_reason` set) lists only the seeds that trained, with the
    validation accuracy each had when it stopped; it has no model.
    """

    seeds: list[int]
    val_accuracies: list[float]
    test_accuracies: list[float] | None  # on the held-out split sent with the request
    train_time_s: float
    median_seed: int
    model_keras: bytes | None = None
    node: str = field(default_factory=lambda: os.uname().nodename)
    # Nodes of one cluster may share a hostname (several on one machine, or containers): the Ray
    # node id and IP tell them apart. Empty outside Ray.
    ray_node_id: str = field(default_factory=lambda: _ray_node()[0])
    node_ip: str = field(default_factory=lambda: _ray_node()[1])
    # Per seed, validation accuracy after each epoch when racing (or asked for with `curves`);
    # otherwise after the last epoch only.
    val_curves: list[list[float]] = field(default_factory=list)
    stopped_reason: str | None = None
    precision: str = "float32"
    epochs_run: int = 0  # seed-epochs actually trained, both rungs (a full trial: seeds x epochs)
    epochs: int = 0  # the recipe's epochs that `val_accuracies` were measured after
    # A promoted trial: each trained seed's validation accuracy at the first rung's epochs.
    screen_val_accuracies: list[float] = field(default_factory=list)
    # With `every_model`: each seed's saved model, in seed order (confirmation keeps them all).
    seed_models: list[bytes] = field(default_factory=list)
    # With `int8_calibration`: each seed's int8 LiteRT file and its accuracy on the held-out
    # split, in seed order.
    int8_test_accuracies: list[float] | None = None
    seed_int8: list[bytes] = field(default_factory=list)

    @property
    def worst_case_val_accuracy(self) -> float:
        return min(self.val_accuracies)


class Trainer(Protocol):
    """Trains what a request asks on the splits sent with it (`held_out`: the recheck or test
    split a confirmation is measured on); raises TrainingFailed if a seed's loss diverges."""

    def __call__(
        self, request: TrainingRequest, train: Split, val: Split, held_out: Split | None = None
    ) -> SeedsOutcome: ...


def _ray_node() -> tuple[str, str]:
    """(node id, node IP) of the Ray node running this code, ("", "") outside a Ray worker."""
    if "ray" not in sys.modules:  # never import Ray just to ask
        return "", ""
    import ray

    if not ray.is_initialized():
        return "", ""
    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
