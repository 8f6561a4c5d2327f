"""The generic trainer of HyperModel points: plain Keras training per seed, the model's own compile
or slimtune's recipe, racing and promotion with the fast trainer's contract."""

from __future__ import annotations

import numpy as np
import pytest

from slimtune.search import Split, train_seeds
from slimtune.search.training import Promotion
from slimtune.spaces import HyperModelConfig, Recipe

USER_FILE = """
import keras


def build(hp):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(hp.Int("filters", 2, 4), 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)  # where the lit rows are is the class
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    if hp.Boolean("own_compile"):
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    return model
"""


@pytest.fixture(scope="module")
def splits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 240).astype(np.int32)
    images = np.zeros((240, 8, 8, 1), np.uint8)
    for label in range(3):  # each class lights its own rows: learnable in an epoch or two
        images[labels == label, 2 * label : 2 * label + 3] = 255
    return Split(images[:180], labels[:180]), Split(images[180:], labels[180:])


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("generic") / "user_models.py"
    path.write_text(USER_FILE)
    return f"{path}:build"


def point(spec: str, own_compile: bool) -> dict:
    return HyperModelConfig(spec, (("filters", 3), ("own_compile", own_compile))).to_dict()


def test_seeds_train_with_the_recipe_or_the_models_own_compile(spec, splits):
    train, val = splits
    recipe = Recipe(epochs=3, batch_size=32, learning_rate=0.05, schedule="constant")
    learned = train_seeds(point(spec, False), train, val, recipe, [1, 2])
    assert learned.seeds == [1, 2] and learned.model_keras and learned.epochs_run == 6
    assert learned.worst_case_val_accuracy > 0.6  # slimtune's Adam at 0.05 learns the rows
    # its own compile: SGD with learning rate 0 never moves, whatever the recipe says
    frozen = train_seeds(point(spec, True), train, val, recipe, [1])
    assert frozen.worst_case_val_accuracy < learned.worst_case_val_accuracy


def test_racing_stops_after_the_first_seed_and_a_near_miss_is_promoted(spec, splits):
    train, val = splits
    recipe = Recipe(epochs=1, batch_size=32, learning_rate=0.05, schedule="constant")
    raced = train_seeds(point(spec, False), train, val, recipe, [1, 2], required_accuracy=1.01)
    assert raced.seeds == [1] and raced.stopped_reason.startswith("seed 1:")
    assert raced.model_keras is None
    full = Recipe(epochs=2, batch_size=32, learning_rate=0.05, schedule="constant")
    promoted = train_seeds(
        point(spec, False),
        train,
        val,
        recipe,
        [1, 2],
        required_accuracy=1.01,
        promotion=Promotion(full, 0.0),
    )
    assert len(promoted.screen_val_accuracies) == 1 and promoted.epochs == 2
    assert promoted.epochs_run == 1 + 2
