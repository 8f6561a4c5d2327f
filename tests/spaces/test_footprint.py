"""The analytic footprint against Keras itself."""

from __future__ import annotations

import random

import pytest

from slimtune.spaces import CNNConfig, ConvBlock, build_model, footprint, load_space, preset


def random_configs(count: int, seed: int = 7) -> list[CNNConfig]:
    rng = random.Random(seed)
    space = load_space()
    configs = []
    while len(configs) < count:
        blocks = tuple(
            ConvBlock(
                rng.choice(space.kernel_size),
                rng.randint(1, 64),
                rng.choice(space.pool),
                rng.choice(space.padding),
                rng.choice((False, True)),
            )
            for _ in range(rng.randint(1, 3))
        )
        dense = rng.choice([0, rng.randint(8, 1024)])
        config = CNNConfig(
            blocks,
            rng.choice(space.head),
            dense,
            0.5 if dense else 0.0,
            batch_norm=rng.choice((False, True)),
        )
        try:
            footprint(config, (28, 28, 1), 10)
        except ValueError:
            continue  # 'valid' blocks that do not fit 28x28; tested below
        configs.append(config)
    return configs


@pytest.mark.parametrize(
    "config",
    random_configs(24) + [preset("paper-base"), preset("paper-final"), preset("paper-1x1")],
    ids=lambda c: c.summary(),
)
def test_params_equal_keras_count_params(config):
    """Deployed params: the model as deployed (BatchNorm folded) has exactly these."""
    model = build_model(config, (28, 28, 1), 10, deployed=True)
    assert footprint(config, (28, 28, 1), 10).params == model.count_params()
    if config.batch_norm:  # as trained: 4 BatchNorm values per channel, convolutions bias-free
        channels = sum(b.filters for b in config.blocks)
        assert (
            build_model(config, (28, 28, 1), 10).count_params()
            == model.count_params() + 4 * channels - channels
        )


@pytest.mark.parametrize("shape, classes", [((32, 32, 3), 10), ((28, 28, 1), 47)])
def test_params_equal_keras_on_other_shapes(shape, classes):
    for config in random_configs(4, seed=11):
        assert (
            footprint(config, shape, classes).params
            == build_model(config, shape, classes, deployed=True).count_params()
        )


def test_paper_models_match_the_paper():
    base = footprint(preset("paper-base"), (28, 28, 1), 10)
    final = footprint(preset("paper-final"), (28, 28, 1), 10)
    assert base.params == 3_274_634
    assert final.params == 14_014
    assert round(base.params / final.params) == 234


def test_paper_final_by_hand():
    fp = footprint(preset("paper-final"), (28, 28, 1), 10)
    weights = 5 * 5 * 2 + 98 * 128 + 128 * 10
    biases = 2 + 128 + 10
    assert fp.weight_bytes_fp32 == 4 * 14_014
    assert fp.weight_bytes_int8 == weights + 4 * biases
    # conv: 28x28x1 in + 28x28x2 out = 2352 elements, the largest pair.
    assert fp.peak_activation_bytes_int8 == 784 + 1568
    assert fp.peak_activation_bytes_fp32 == 4 * 2352
    assert fp.macs == 28 * 28 * 25 * 2 + 98 * 128 + 128 * 10


def test_peak_activation_counts_the_largest_layer_pair():
    config = CNNConfig((ConvBlock(3, 8, 1), ConvBlock(3, 16, 4)), "gap", 0, 0.0)
    fp = footprint(config, (28, 28, 1), 10)
    assert fp.peak_activation_bytes_int8 == 28 * 28 * 8 + 28 * 28 * 16  # second conv


def test_valid_padding_that_does_not_fit_is_an_error():
    config = CNNConfig((ConvBlock(7, 2, 4, "valid"), ConvBlock(7, 2, 1, "valid")), "flatten")
    with pytest.raises(ValueError, match="does not fit"):
        footprint(config, (28, 28, 1), 10)


def test_paper_1x1_by_hand():
    # 28 -valid 3x3-> 26 -pool 2-> 13 -1x1-> 13 -valid pool 2-> 6: 6*6*2 = 72 features.
    fp = footprint(preset("paper-1x1"), (28, 28, 1), 10)
    assert fp.params == 5_348 == (9 * 2 + 2) + (2 * 2 + 2) + (72 * 64 + 64) + (64 * 10 + 10)
    assert fp.macs == 26 * 26 * 9 * 2 + 13 * 13 * 2 * 2 + 72 * 64 + 64 * 10


def test_valid_pooling_rounds_down_and_must_fit():
    fits = CNNConfig((ConvBlock(3, 2, 4, "valid"),), "flatten")  # 26 -> 6
    assert footprint(fits, (28, 28, 1), 10).params == 20 + 6 * 6 * 2 * 10 + 10
    too_small = CNNConfig((ConvBlock(7, 2, 4, "valid"), ConvBlock(3, 2, 4, "valid")), "gap")
    with pytest.raises(ValueError, match="pool 4 with padding 'valid' does not fit"):
        footprint(too_small, (28, 28, 1), 10)  # 22 -> 5 -> 3 -> pool 4 leaves nothing


def test_a_separable_block_by_hand():
    config = CNNConfig((ConvBlock(3, 4, 2), ConvBlock(3, 8, 1, separable=True)), "gap")
    fp = footprint(config, (28, 28, 1), 10)
    # conv 3*3*1*4 + 4; depthwise 3*3*4, pointwise 4*8 + 8; classifier 8*10 + 10
    assert fp.params == 40 + 36 + 40 + 90
    assert fp.weight_bytes_int8 == (36 + 36 + 32 + 80) + 4 * (4 + 8 + 10)
    assert fp.macs == 28 * 28 * 36 + 14 * 14 * (36 + 32) + 80
