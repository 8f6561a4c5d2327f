"""The deployed network (BatchNorm folded) computes what the trained one computes."""

from __future__ import annotations

import numpy as np
import pytest

from slimtune.spaces import CNNConfig, ConvBlock, build_model, deployed_model

CONFIGS = [
    CNNConfig((ConvBlock(3, 3, 2), ConvBlock(3, 6, 4, "valid")), "flatten", batch_norm=True),
    CNNConfig(
        (ConvBlock(3, 4, 2), ConvBlock(5, 8, 1, separable=True)), "gap", 16, 0.5, batch_norm=True
    ),
    CNNConfig((ConvBlock(3, 4, 2, separable=True),), "gap"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.summary())
def test_the_deployed_model_matches_the_trained_one(config):
    import keras

    keras.utils.set_random_seed(3)
    trained = build_model(config, (28, 28, 1), 10)
    rng = np.random.default_rng(0)
    for layer in trained.layers:  # BatchNorm statistics far from the identity, as after training
        if layer.name.startswith("bn"):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 2.0, gamma.shape),
                    rng.normal(0, 1, beta.shape),
                    rng.normal(0, 1, mean.shape),
                    rng.uniform(0.2, 3.0, variance.shape),
                ]
            )
    images = rng.uniform(0, 1, (16, 28, 28, 1)).astype("float32")
    deployed = deployed_model(config, trained, (28, 28, 1), 10)
    assert not any(layer.name.startswith("bn") for layer in deployed.layers)
    np.testing.assert_allclose(
        deployed.predict(images, verbose=0), trained.predict(images, verbose=0), atol=2e-5
    )
    assert deployed.name == ("slimtune_cnn_bn" if config.batch_norm else "slimtune_cnn")


def test_configs_round_trip_and_name_their_blocks():
    config = CONFIGS[1]
    assert CNNConfig.from_dict(config.to_dict()) == config
    assert config.summary() == "c3x4-p2|s5x8|gap|d16@0.5|bn"
    plain = CNNConfig((ConvBlock(3, 4, 2),), "gap")
    assert plain.to_dict() == {
        "blocks": [{"kernel_size": 3, "filters": 4, "pool": 2, "padding": "same"}],
        "head": "gap",
        "dense_units": 0,
        "dropout": 0.0,
    }  # records of plain configurations read as before
