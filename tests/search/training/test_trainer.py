"""The trial trainer on real MNIST images (a small subset): replicas, racing, early stopping."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from slimtune.search._data import resolve
from slimtune.search.training import TrainingFailed, resolve_precision, train_seeds
from slimtune.spaces import CNNConfig, ConvBlock, Recipe, RecipeError

CONFIG = CNNConfig((ConvBlock(3, 4, 4),), "flatten")
FP32 = Recipe(epochs=2, batch_size=64, learning_rate=3e-3, precision="float32", schedule="constant")


@pytest.fixture(scope="module")
def splits(mnist_dir):
    from slimtune.search._data import Split

    train, val = resolve("mnist", mnist_dir).train_val(val_size=5000, train_subset=1000)
    return train, Split(val.x[:1000], val.y[:1000])


def test_seeds_side_by_side_train_exactly_as_each_alone(splits):
    together = train_seeds(CONFIG, *splits, FP32, [1, 2], keep_model=False, curves=True)
    alone = train_seeds(CONFIG, *splits, FP32, [2], keep_model=False, curves=True)
    assert together.seeds == [1, 2] and len(together.val_curves[0]) == FP32.epochs
    assert together.val_curves[1] == alone.val_curves[0]  # own init and data order per replica
    assert together.val_curves[0] != together.val_curves[1]
    assert together.worst_case_val_accuracy == min(together.val_accuracies) > 0.5
    assert together.epochs_run == 2 * FP32.epochs and together.stopped_reason is None


# Every kind of layer the packed network has: plain and separable convolutions, BatchNorm, both
# heads, a hidden dense layer.
PACKED_KINDS = [
    CNNConfig(
        (ConvBlock(3, 3, 2), ConvBlock(3, 4, 2, separable=True, padding="valid")),
        "gap",
        batch_norm=True,
    ),
    CNNConfig((ConvBlock(5, 2, 4, separable=True),), "flatten", dense_units=8),
]


@pytest.mark.parametrize("config", PACKED_KINDS, ids=lambda c: c.summary())
def test_packed_replicas_compute_what_each_keras_model_computes(config):
    """The packed network's forward pass is each replica's own Keras model's, and unpacking
    gives each model back its own weights."""
    import keras
    import tensorflow as tf

    from slimtune.search.training._packed import PackedNetwork, pack_images
    from slimtune.spaces import build_model

    models = []
    for seed in (3, 4, 5):
        keras.utils.set_random_seed(seed)
        models.append(build_model(config, (28, 28, 1), 10))
    before = [m.get_weights() for m in models]
    net = PackedNetwork(config, models, "float32")
    images = np.random.default_rng(0).random((3, 16, 28, 28, 1), dtype=np.float32)
    logits = net(pack_images(tf.constant(images), 3), training=False).numpy()
    for r, model in enumerate(models):
        expected = model(images[r], training=False).numpy()
        assert np.allclose(tf.nn.softmax(logits[r]).numpy(), expected, atol=1e-5)
    net.unpack()
    for model, weights in zip(models, before, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))
    # A training pass updates BatchNorm's moving statistics as each Keras model's own does.
    net(pack_images(tf.constant(images), 3), training=True)
    net.unpack()
    for r, model in enumerate(models):
        packed_moving = model.get_weights()
        model.set_weights(before[r])
        model(images[r], training=True)
        pairs = zip(packed_moving, model.get_weights(), strict=True)
        assert all(np.allclose(a, b, atol=1e-6) for a, b in pairs)


def test_packed_batch_norm_and_separable_seeds_train_exactly_as_each_alone(splits):
    config = PACKED_KINDS[0]
    together = train_seeds(config, *splits, FP32, [1, 2], keep_model=False, curves=True)
    alone = train_seeds(config, *splits, FP32, [2], keep_model=False, curves=True)
    assert together.val_curves[1] == alone.val_curves[0]
    assert together.val_curves[0] != together.val_curves[1]


def test_racing_stops_after_the_first_seed_when_the_threshold_is_out_of_reach(splits):
    outcome = train_seeds(CONFIG, *splits, FP32, [1, 2, 3], required_accuracy=0.999)
    assert outcome.seeds == [1]  # the other seeds never trained
    assert outcome.stopped_reason.startswith("seed 1: validation accuracy")
    assert "0.9990" in outcome.stopped_reason
    assert outcome.model_keras is None and outcome.epochs_run <= FP32.epochs


def test_a_reachable_threshold_trains_every_seed(splits):
    outcome = train_seeds(CONFIG, *splits, FP32, [1, 2], required_accuracy=0.3)
    assert outcome.stopped_reason is None and outcome.seeds == [1, 2]
    assert outcome.epochs_run == 2 * FP32.epochs


@pytest.mark.parametrize("precision", ["auto", "mixed_bfloat16"])
def test_saved_model_is_plain_float32_and_matches_the_reported_accuracy(splits, precision):
    import keras

    train, val = splits
    outcome = train_seeds(CONFIG, train, val, Recipe(epochs=1, precision=precision), [4, 5, 6])
    # "auto": packed seeds compute in float32 on every CPU
    assert (
        outcome.precision
        == resolve_precision(precision, 3)
        == {"auto": "float32"}.get(precision, precision)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.keras"
        path.write_bytes(outcome.model_keras)
        model = keras.models.load_model(path)
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
    predicted = np.argmax(model.predict(val.x.astype(np.float32) / 255.0, verbose=0), axis=1)
    median = outcome.val_accuracies[outcome.seeds.index(outcome.median_seed)]
    assert float(np.mean(predicted == val.y)) == pytest.approx(median, abs=0.01)


def test_every_model_saves_each_seed_its_own_model(splits):
    """Confirmation trains its seeds packed and keeps each seed's model: seed i's saved model
    scores seed i's validation accuracy (the seeds differ, so a mix-up shows)."""
    from slimtune.search.training import saved_model_accuracy

    train, val = splits
    outcome = train_seeds(CONFIG, train, val, FP32, [7, 8, 9], test=val, every_model=True)
    assert len(outcome.seed_models) == 3 and len(set(outcome.val_accuracies)) == 3
    assert outcome.seed_models[outcome.seeds.index(outcome.median_seed)] == outcome.model_keras
    for model_keras, accuracy in zip(outcome.seed_models, outcome.val_accuracies, strict=True):
        assert saved_model_accuracy(model_keras, val) == pytest.approx(accuracy, abs=1e-4)
    assert outcome.test_accuracies == outcome.val_accuracies
    assert train_seeds(CONFIG, train, val, FP32, [7], keep_model=True).seed_models == []


def test_int8_judgement_measures_the_file_pull_would_write(splits):
    """Each seed's int8 file is the one `pull --format tflite-int8` writes from that seed's model
    with the same calibration images, measured on the held-out split by LiteRT."""
    import keras

    from slimtune.deploy import calibration_rows, tflite_bytes
    from slimtune.spaces import litert_accuracy

    train, val = splits
    images = train.x[calibration_rows(len(train.x), 200)].astype(np.float32) / 255.0
    outcome = train_seeds(
        CONFIG, train, val, FP32, [7, 8], test=val, every_model=True, int8_calibration=images
    )
    assert len(outcome.seed_int8) == 2 and len(outcome.int8_test_accuracies) == 2
    x = val.x.astype(np.float32) / 255.0
    for saved, blob, float_acc, int8_acc in zip(
        outcome.seed_models,
        outcome.seed_int8,
        outcome.test_accuracies,
        outcome.int8_test_accuracies,
        strict=True,
    ):
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "m.keras").write_bytes(saved)
            model = keras.saving.load_model(Path(folder) / "m.keras", compile=False)
        assert tflite_bytes(model, images) == blob  # what pull would ship, byte for byte
        assert litert_accuracy(blob, x, val.y) == int8_acc
        assert abs(int8_acc - float_acc) < 0.03  # quantized, not another model
    # Without the flag nothing is converted.
    assert train_seeds(CONFIG, train, val, FP32, [7], test=val, every_model=True).seed_int8 == []


def test_a_nan_loss_fails_the_trial_with_a_fix(splits):
    with pytest.raises(TrainingFailed, match="loss became nan for seed 0 .*lower --learning-rate"):
        # The fault seam builds a NaN learning rate past Recipe's check, as SLIMTUNE_FAULTS does.
        diverging = Recipe(epochs=1)
        object.__setattr__(diverging, "learning_rate", float("nan"))
        train_seeds(CONFIG, *splits, diverging, [0])


def test_auto_precision_packs_narrow_models_in_float32_and_follows_the_cpu_otherwise():
    lone = resolve_precision("auto", 1)
    assert lone in ("float32", "mixed_bfloat16")
    assert resolve_precision("auto", 4, widest_filters=6) == "float32"
    assert resolve_precision("auto", 4, widest_filters=24) == lone  # wide: as a lone seed
    assert resolve_precision("mixed_bfloat16", 4, widest_filters=6) == "mixed_bfloat16"


def test_costly_models_train_their_seeds_one_at_a_time(splits):
    """Packing pays only on cheap models (PACKED_MAX_MACS): a 1.5M-MAC model's seeds train alone,
    each in a lone seed's precision, and still exactly as alone (float32)."""
    from slimtune.search.training import packs_seeds

    wide = CNNConfig((ConvBlock(3, 24), ConvBlock(3, 8, 2)), "gap")  # benchmarks' "reference"
    assert packs_seeds(CONFIG, (28, 28, 1), 10) and not packs_seeds(wide, (28, 28, 1), 10)
    train, val = splits
    auto = train_seeds(wide, train, val, Recipe(epochs=1), [1, 2, 3], keep_model=False)
    assert auto.precision == resolve_precision("auto", 1) and len(auto.val_accuracies) == 3
    one = Recipe(epochs=1, batch_size=64, precision="float32", schedule="constant")
    together = train_seeds(wide, train, val, one, [1, 2], keep_model=False, curves=True)
    alone = train_seeds(wide, train, val, one, [2], keep_model=False, curves=True)
    assert together.val_curves[1] == alone.val_curves[0]


def test_unknown_precision_is_refused():
    with pytest.raises(RecipeError, match="--precision fp8: use one of auto, float32"):
        Recipe(precision="fp8")


def test_without_racing_validation_runs_once_at_the_end(splits):
    outcome = train_seeds(CONFIG, *splits, FP32, [1], keep_model=False)
    assert [len(c) for c in outcome.val_curves] == [1] and outcome.epochs_run == FP32.epochs


def test_a_batch_norm_model_is_saved_folded_and_as_accurate(splits):
    """The saved model is the deployed one: BatchNorm folded into the convolutions, the
    footprint's params, and the accuracy the trainer reported for it."""
    from slimtune.search.training import saved_model_accuracy
    from slimtune.spaces import footprint

    config = CNNConfig(
        (ConvBlock(3, 4, 2), ConvBlock(3, 8, 2, separable=True)), "gap", batch_norm=True
    )
    train, val = splits
    outcome = train_seeds(config, train, val, Recipe(epochs=2, batch_size=64), [7])
    with tempfile.TemporaryDirectory() as folder:
        import keras

        path = Path(folder) / "m.keras"
        path.write_bytes(outcome.model_keras)
        model = keras.models.load_model(path)
    assert not any(layer.name.startswith("bn") for layer in model.layers)
    assert model.count_params() == footprint(config, (28, 28, 1), 10).params
    assert saved_model_accuracy(outcome.model_keras, val) == pytest.approx(
        outcome.val_accuracies[0], abs=0.005
    )


def test_under_the_cosine_schedule_a_seed_is_stopped_only_after_its_last_epoch(splits):
    cosine = Recipe(epochs=2, batch_size=64, precision="float32")
    assert cosine.schedule == "cosine"
    outcome = train_seeds(CONFIG, *splits, cosine, [1, 2, 3], required_accuracy=0.999)
    assert outcome.seeds == [1] and outcome.epochs_run == cosine.epochs
    assert "after all 2 epochs" in outcome.stopped_reason


COSINE = Recipe(epochs=1, batch_size=64, precision="float32")
FULL = Recipe(epochs=3, batch_size=64, precision="float32")


def test_a_near_miss_is_promoted_to_the_full_recipe_from_fresh_weights(splits):
    from slimtune.search.training import Promotion

    promoted = train_seeds(
        CONFIG,
        *splits,
        COSINE,
        [1, 2],
        required_accuracy=0.999,
        promotion=Promotion(FULL, near_miss_accuracy=0.0),
    )
    alone = train_seeds(CONFIG, *splits, FULL, [1], required_accuracy=0.999)
    assert len(promoted.screen_val_accuracies) == 1  # seed 1 missed at the first rung
    assert promoted.epochs == FULL.epochs and promoted.seeds == [1]
    assert promoted.val_accuracies == alone.val_accuracies  # the full recipe, from fresh weights
    assert promoted.epochs_run == COSINE.epochs + FULL.epochs
    assert "after all 3 epochs" in promoted.stopped_reason


def test_a_far_miss_is_not_promoted(splits):
    from slimtune.search.training import Promotion

    outcome = train_seeds(
        CONFIG,
        *splits,
        COSINE,
        [1, 2],
        required_accuracy=0.999,
        promotion=Promotion(FULL, near_miss_accuracy=0.998),
    )
    assert outcome.screen_val_accuracies == [] and outcome.epochs == COSINE.epochs
    assert outcome.epochs_run == COSINE.epochs and outcome.seeds == [1]


def test_a_trial_that_holds_at_the_first_rung_is_not_trained_again(splits):
    from slimtune.search.training import Promotion

    outcome = train_seeds(
        CONFIG,
        *splits,
        COSINE,
        [1, 2],
        required_accuracy=0.2,
        promotion=Promotion(FULL, near_miss_accuracy=0.0),
    )
    assert outcome.stopped_reason is None and outcome.epochs == COSINE.epochs
    assert outcome.epochs_run == 2 * COSINE.epochs and outcome.screen_val_accuracies == []


@pytest.mark.parametrize(
    "config, pack",
    [
        (CONFIG, True),
        (CONFIG, False),
        (CNNConfig((ConvBlock(3, 4, 2),), "flatten", batch_norm=True), True),
    ],
    ids=["packed", "one-at-a-time", "packed-bn"],
)
def test_a_trial_leaves_no_copy_of_the_training_split_behind(splits, monkeypatch, config, pack):
    """A worker trains hundreds of trials: the resident training tensor of each must be freed
    when its trial ends (a traced epoch that captured it kept 39 MB per MNIST trial alive, and a
    worker of a 60-minute search grew to 12 GB)."""
    import gc
    import weakref

    from slimtune.search.training import _trainer

    resident = []
    original = _trainer._Resident.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        resident.append(weakref.ref(self.x["train"]))

    monkeypatch.setattr(_trainer._Resident, "__init__", recording)
    train_seeds(config, *splits, FP32, [1, 2], keep_model=True, pack=pack)
    gc.collect()
    assert resident and all(ref() is None for ref in resident)


@pytest.mark.parametrize("augment", ["shift", "affine"])
def test_augmented_seeds_train_packed_exactly_as_each_alone(splits, augment):
    """Each seed's images move by draws keyed by its own seed, epoch and step: packed with
    another seed it reaches exactly what it reaches alone, and its curve is not the
    unaugmented one."""
    recipe = Recipe(
        epochs=2,
        batch_size=64,
        learning_rate=3e-3,
        precision="float32",
        schedule="constant",
        augment=augment,
    )
    together = train_seeds(CONFIG, *splits, recipe, [1, 2], keep_model=False, curves=True)
    alone = train_seeds(CONFIG, *splits, recipe, [2], keep_model=False, curves=True)
    plain = train_seeds(CONFIG, *splits, FP32, [2], keep_model=False, curves=True)
    assert together.val_curves[1] == alone.val_curves[0]
    assert alone.val_curves[0] != plain.val_curves[0]


def test_augmentation_moves_each_image_by_its_own_draw():
    import tensorflow as tf

    from slimtune.search.training._augment import augment_batch

    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((2, 8, 28, 28, 1), dtype=np.float32))
    seeds = tf.constant([1, 2], tf.int64)
    epoch, step = tf.constant(3, tf.int64), tf.constant(5, tf.int64)
    assert augment_batch(images, seeds, epoch, step, "none") is images
    moved = augment_batch(images, seeds, epoch, step, "affine").numpy()
    assert moved.shape == images.shape and not np.allclose(moved, images.numpy())
    # the same key, the same move; another epoch, another move
    assert np.array_equal(moved, augment_batch(images, seeds, epoch, step, "affine").numpy())
    later = augment_batch(images, seeds, tf.constant(4, tf.int64), step, "affine").numpy()
    assert not np.allclose(moved, later)
    # replica 1 (seed 2) moves the same way alone as beside replica 0
    alone = augment_batch(images[1:], seeds[1:], epoch, step, "affine").numpy()
    assert np.array_equal(moved[1], alone[0])
    # within a batch every image has its own draw
    same = tf.constant(np.repeat(images.numpy()[:1, :1], 8, axis=1))
    shifted = augment_batch(same, seeds[:1], epoch, step, "shift").numpy()
    assert len({shifted[0, k].tobytes() for k in range(8)}) == 8


def test_an_unknown_augmentation_is_refused():
    with pytest.raises(RecipeError, match="--augment flip: use one of none, shift, affine"):
        Recipe(augment="flip")
    assert "augment" not in Recipe().to_dict()  # the identity of older studies still matches
    assert Recipe(augment="shift").to_dict()["augment"] == "shift"
