"""The training recipe: how every configuration of a study is trained. One set of rules, checked
here for every caller (search flags, study TOML, design templates, benchmarks)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
# "auto": the trainer decides (float32 for seeds packed together, mixed_bfloat16 for a lone seed
# on a CPU with bfloat16 units: search/training/_trainer.py) and records what it used per trial.
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
# "cosine": the learning rate decays from its peak to 0 along a half cosine over all the steps
# of the recipe (Loshchilov & Hutter, SGDR); "constant": it stays at its peak.
SCHEDULES = ("cosine", "constant")
# On-the-fly augmentation of the training images (search/training/_augment.py): "shift" moves
# each image by up to a tenth of its height and width; "affine" also turns it by up to 7 degrees
# and scales it by up to 10%. No flips: they change what many images mean (a digit, a letter).
AUGMENTATIONS = ("none", "shift", "affine")


class RecipeError(ValueError):
    """A recipe value is invalid. `key`, `value` and `fix` let each caller name the value in its
    own terms (a flag, a TOML key); the message itself uses the flag's name."""

    def __init__(self, key: str, value: Any, fix: str) -> None:
        self.key, self.value, self.fix = key, value, fix
        super().__init__(f"--{key.replace('_', '-')} {value}: {fix}")


@dataclass(frozen=True)
class Recipe:
    """How every configuration is trained; part of a study's identity (resume checks it)."""

    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-2  # the peak under "cosine"
    optimizer: str = "adam"
    precision: str = "auto"
    schedule: str = "cosine"
    augment: str = "none"

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RecipeError(key, value, "use a whole number of 1 or more")
        rate = self.learning_rate
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not math.isfinite(rate)
            or not rate > 0
        ):
            raise RecipeError("learning_rate", rate, "use a positive number such as 0.001")
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError("optimizer", self.optimizer, f"use one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise RecipeError("schedule", self.schedule, f"use one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise RecipeError("precision", self.precision, f"use one of {', '.join(PRECISIONS)}")
        if self.augment not in AUGMENTATIONS:
            raise RecipeError("augment", self.augment, f"use one of {', '.join(AUGMENTATIONS)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # Written only when used, so the identity of a study made before augmentation existed
        # (its recipe dict) still matches on resume.
        if data["augment"] == "none":
            del data["augment"]
        return data

    def make_optimizer(self, steps_per_epoch: int) -> Any:
        """A new Keras optimizer of this recipe for `steps_per_epoch` steps per epoch, its learning
        rate following `schedule` (imports Keras)."""
        import keras

        rate: Any = self.learning_rate
        if self.schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(
                self.learning_rate, decay_steps=self.epochs * steps_per_epoch
            )
        return keras.optimizers.get(
            {"class_name": self.optimizer, "config": {"learning_rate": rate}}
        )
