from __future__ import annotations

import pytest

from slimtune.deploy._template import (
    DesignTemplate,
    TemplateError,
    config_from_model,
    save_template,
)
from slimtune.spaces import CNNConfig, ConvBlock, Recipe, build_model, preset

CONFIGS = [
    preset("paper-final"),
    preset("paper-base"),
    CNNConfig((ConvBlock(3, 4, 2), ConvBlock(5, 8, 1, "valid")), "gap"),
    CNNConfig((ConvBlock(1, 1, 4),), "flatten", dense_units=17),
    CNNConfig((ConvBlock(3, 4, 2, separable=True), ConvBlock(3, 8, 2)), "gap", batch_norm=True),
]


def test_template_round_trips_through_toml(tmp_path):
    template = DesignTemplate(
        config=CONFIGS[2],
        recipe=Recipe(epochs=2, batch_size=64, learning_rate=0.01),
        source="models:/slimtune-mnist/3",
        floor=0.9,
    )
    path = tmp_path / "t.toml"
    save_template(template, path)
    assert DesignTemplate.from_toml(path) == template
    assert DesignTemplate.from_dict(template.to_dict()) == template
    assert "slimtune train --template" in path.read_text()
    bare = DesignTemplate(config=CONFIGS[0])
    assert DesignTemplate.from_dict(bare.to_dict()) == bare


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.summary())
def test_config_is_read_back_from_the_built_model(config):
    assert config_from_model(build_model(config, (28, 28, 1), 10, deployed=True)) == config


def test_a_foreign_model_is_refused():
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))
    with pytest.raises(TemplateError, match="was not built by slimtune"):
        config_from_model(model)


@pytest.mark.parametrize(
    "text, match",
    [
        ("[recipe]\nepochs = 1\n", r"missing \[config\] table"),
        ("[config]\nblocks = []\n", r"blocks = \[\]: use a list of one or more block tables"),
        ("[config]\nblocks = [{kernel_size = 3, filters = 0}]\n", r"blocks\[0\]: filters = 0"),
        ("[config]\nblocks = [{kernel_size = 3, filters = 2.5}]\n", r"blocks\[0\]: filters = 2.5"),
        (
            '[config]\nblocks = [{kernel_size = 3, filters = 2, separable = "no"}]\n',
            "separable = 'no': use true or false",
        ),
        (
            '[template]\nfloor = "high"\n[config]\nblocks = [{kernel_size = 3, filters = 2}]\n',
            r"\[template\] floor = 'high'",
        ),
        ('[config]\nhead = "avg"\nblocks = [{kernel_size = 3, filters = 2}]\n', "head = 'avg'"),
        ("[config]\nblocks = [{kernel_size = 3, filters = 2, stride = 2}]\n", "unknown block key"),
        (
            "[recipe]\nepochs = 0\n[config]\nblocks = [{kernel_size = 3, filters = 2}]\n",
            "epochs = 0",
        ),
        (
            "[recipe]\nlr = 1\n[config]\nblocks = [{kernel_size = 3, filters = 2}]\n",
            r"unknown \[recipe\] key 'lr'",
        ),
        (
            '[recipe]\noptimizer = "lion"\n[config]\nblocks = [{kernel_size = 3, filters = 2}]\n',
            "optimizer = 'lion'",
        ),
        ("[extra]\n", "unknown top-level key 'extra'"),
        ("config = [\n", "not valid TOML"),
    ],
)
def test_bad_templates_name_the_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=match):
        DesignTemplate.from_toml(path)
