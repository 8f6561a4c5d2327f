from __future__ import annotations

import json

import optuna
import pytest

from slimtune.spaces import (
    CNNConfig,
    ConvBlock,
    SearchSpace,
    SpaceError,
    load_space,
    preset,
    presets,
)


def test_default_space_matches_the_issue():
    space = load_space()
    assert space.blocks == (1, 3)
    assert space.kernel_size == (1, 3, 5, 7)
    assert space.filters == (1, 64)
    assert space.pool == (1, 2, 4)
    assert space.padding == ("same", "valid")  # 'valid' reaches the paper's 1x1 model
    assert space.head == ("flatten", "gap")
    assert space.dense_units == (8, 1024) and space.dense_optional


def test_presets_are_points_of_the_default_space():
    space = load_space()
    assert set(presets()) >= {"paper-base", "paper-final", "paper-1x1"}
    for config in presets().values():
        assert space.contains(config)


def test_space_round_trips_through_toml_and_json(tmp_path):
    space = SearchSpace(
        blocks=(1, 2),
        kernel_size=(3, 5),
        filters=(2, 16),
        pool=(1, 2),
        head=("gap",),
        dense_units=(16, 16),
        dense_optional=False,
        dropout=(0.5,),
    )
    path = tmp_path / "space.toml"
    path.write_text(space.to_toml())
    assert SearchSpace.from_toml(path) == space
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space
    # one line per dimension, arrays inline, as spaces/default.toml is written
    assert "blocks = [1, 2]\n" in space.to_toml() and 'head = ["gap"]\n' in space.to_toml()
    assert len(space.to_toml().splitlines()) == len(space.to_dict())


def test_config_round_trips_and_has_a_readable_summary():
    config = preset("paper-final")
    assert CNNConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.summary() == "c5x2-p4|flatten|d128@0.5"


@pytest.mark.parametrize(
    "toml, pattern",
    [
        ("kernel_size = 2", r"'kernel_size' = 2: expected one or more of \[1, 3, 5, 7\]"),
        ("kernel_size = [3, 4]", r"'kernel_size' = 4"),
        ("filters = 0", r"'filters' = 0: expected whole numbers with 1 <= low"),
        ("filters = [8, 4]", r"'filters' = \[8, 4\]"),
        ("blocks = [0, 2]", r"'blocks' = \[0, 2\]"),
        ("pool = [3]", r"'pool' = 3"),
        ("head = ['dense']", r"'head' = 'dense'"),
        ("dropout = [1.5]", r"'dropout' = \[1.5\]"),
        ("dense_optional = 'yes'", r"'dense_optional' = 'yes'"),
        ("kernel = [3]", r"unknown space key 'kernel'"),
        ("filters = [", r"not valid TOML"),
    ],
)
def test_invalid_space_values_are_rejected_with_key_and_value(tmp_path, toml, pattern):
    path = tmp_path / "space.toml"
    path.write_text(toml + "\n")
    with pytest.raises(SpaceError, match=pattern):
        SearchSpace.from_toml(path)


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="unknown config key 'width'"):
        CNNConfig.from_dict({"blocks": [], "width": 3})


def test_suggest_draws_points_inside_the_space_with_optuna():
    space = load_space()
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1)
    )
    for _ in range(50):
        trial = study.ask()
        config = space.suggest(trial)
        assert space.contains(config)
        study.tell(trial, [0.5, 1.0])


def test_suggest_skips_fixed_dimensions():
    space = SearchSpace(
        blocks=(1, 1),
        kernel_size=(3,),
        filters=(4, 4),
        pool=(2,),
        head=("flatten",),
        dense_units=(8, 8),
        dense_optional=False,
        dropout=(0.0,),
    )
    study = optuna.create_study()
    trial = study.ask()
    assert space.suggest(trial) == CNNConfig((ConvBlock(3, 4, 2),), "flatten", 8, 0.0)
    assert trial.params == {}


def test_contains_rejects_points_outside():
    space = SearchSpace(filters=(1, 8))
    assert not space.contains(preset("paper-base"))
    assert not space.contains(CNNConfig((ConvBlock(3, 4, 3),), "flatten", 0, 0.0))
    assert space.contains(CNNConfig((ConvBlock(3, 4, 2),), "gap", 0, 0.0))


def test_separable_blocks_are_sampled_only_with_a_spatial_kernel():
    import optuna

    from slimtune.spaces import CNNConfig, ConvBlock, footprint

    space = SearchSpace(kernel_size=(1, 3), separable=(False, True), batch_norm=(False, True))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [space.suggest(study.ask()) for _ in range(200)]
    blocks = [b for c in configs for b in c.blocks]
    assert {b.separable for b in blocks if b.kernel_size == 3} == {False, True}
    assert not any(b.separable for b in blocks if b.kernel_size == 1)
    assert {c.batch_norm for c in configs} == {False, True}
    assert all(space.contains(c) for c in configs)
    with pytest.raises(ValueError, match="separable block needs kernel_size > 1"):
        footprint(CNNConfig((ConvBlock(1, 4, 1, separable=True),), "gap"), (28, 28, 1), 10)


def test_flags_must_be_true_or_false():
    with pytest.raises(SpaceError, match=r"space key 'separable' = \[1\]: expected true, false"):
        SearchSpace.from_dict({"separable": [1]})
