"""Bad input, generated (Hypothesis): hundreds of bad CLI numbers, space TOML files, device
profiles, study files and design templates, each refused with one line on stderr naming the value,
exit code 2, no traceback, and
nothing created. The real entry point runs in this process (`run_cli_in_process`), so a case
costs milliseconds."""

from __future__ import annotations

import copy
import math
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from slimtune.search import setting_fields
from support.cli import run_cli_in_process
from support.data import make_dataset

CASES = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Accepted(BaseException):
    """Raised where a search would create its first folder: every check has passed. Not an
    Exception, so the CLI's one-line report of unexpected errors lets it through."""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("generated")
    # 120 training images: --val-size and --recheck-size have bounds a generator can reach
    return {"data": make_dataset(root / "data"), "out": root / "out"}


@pytest.fixture(autouse=True)
def _stop_before_anything_is_created(monkeypatch):
    """A bad value that slipped through would start a real search; stop it where the first
    folder would be created, which fails the test below (a bad value must not get that far)."""
    from slimtune import search
    from slimtune.search import pipeline

    def accepted(folder: Path) -> None:
        raise Accepted(str(folder))

    monkeypatch.setattr(pipeline, "ensure_writable", accepted)
    monkeypatch.setattr(search, "ensure_writable", accepted)  # `slimtune train` imports it late


def refused(workspace: dict[str, Path], *args: str) -> str:
    """The one stderr line of `slimtune search ARGS`, after checking exit 2, no traceback and
    no --out folder."""
    try:
        code, _, stderr = run_cli_in_process(
            "search", "--out", workspace["out"], "--dataset", workspace["data"], *args
        )
    except Accepted:
        pytest.fail(f"slimtune search {' '.join(args)} was accepted")
    lines = stderr.strip().splitlines()
    assert code == 2, (args, stderr)
    assert len(lines) == 1 and lines[0].startswith("slimtune: error: "), (args, stderr)
    assert not workspace["out"].exists()
    return lines[0]


# --- CLI numbers ---------------------------------------------------------------------------------
# flag -> smallest allowed whole number (and largest, where there is one)
INT_FLAGS = {
    "--trials": (1, None),
    "--seeds": (1, 100),
    "--epochs": (1, None),
    "--batch-size": (1, None),
    "--max-params": (1, None),
    "--max-flash-bytes": (1, None),
    "--max-ram-bytes": (1, None),
    "--max-macs": (1, None),
    "--workers": (1, None),
    "--cpus-per-trial": (1, None),
    "--confirm-candidates": (1, None),
    "--train-subset": (1, None),
    # the workspace dataset holds 120 training images, 10 of them validation by default
    "--val-size": (1, 119),
    "--recheck-size": (0, 109),
    "--max-retries": (0, None),
    "--seed": (0, 4_294_966),
}
# flag -> (low, high, whether low itself is allowed, whether high is)
FLOAT_FLAGS = {
    "--min-accuracy": (0.0, 1.0, True, True),
    "--confidence": (0.5, 1.0, True, False),
    "--learning-rate": (0.0, math.inf, False, False),
    "--timeout": (0.0, math.inf, False, True),
}  # inf: no time limit


def _unparseable(text: str) -> bool:
    try:
        float(text)  # what Click's INT and FLOAT accept includes "1_000" and other digits
    except ValueError:
        return True
    return False


# Printable text (a shell argument with a newline in it is not what a user types by mistake)
NOT_A_NUMBER = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12
).filter(_unparseable)


@st.composite
def bad_int(draw) -> tuple[str, str]:
    flag = draw(st.sampled_from(sorted(INT_FLAGS)))
    low, high = INT_FLAGS[flag]
    too_small = st.integers(max_value=low - 1).map(str)
    choices = [too_small, NOT_A_NUMBER, st.floats(allow_nan=False).map(lambda f: f"{f}.5")]
    if high is not None:
        choices.append(st.integers(min_value=high + 1).map(str))
    return flag, draw(st.one_of(choices))


@st.composite
def bad_float(draw) -> tuple[str, str]:
    flag = draw(st.sampled_from(sorted(FLOAT_FLAGS)))
    low, high, low_ok, high_ok = FLOAT_FLAGS[flag]
    below = st.floats(max_value=low, allow_nan=False, exclude_max=low_ok).filter(
        lambda f: not (low_ok and f == low)
    )  # -0.0 is 0.0
    choices = [below, st.just(math.nan)]
    if high != math.inf or not high_ok:
        choices.append(st.floats(min_value=high, exclude_min=high_ok))
    value = draw(st.one_of(*[c.map(repr) for c in choices], NOT_A_NUMBER))
    return flag, value


def names_the_value(line: str, flag: str, value: str) -> bool:
    """The line names the flag and the value as given (or as the number it was read as)."""
    shown = {value, value.strip(), repr(value)}
    try:
        shown |= {str(float(value)), str(int(float(value)))}
    except (ValueError, OverflowError):
        pass
    return flag in line and any(s and s in line for s in shown)


@CASES
@given(bad_int())
def test_bad_whole_numbers_are_refused_in_one_line(workspace, case):
    flag, value = case
    line = refused(workspace, f"{flag}={value}")
    assert names_the_value(line, flag, value), line


@CASES
@given(bad_float())
def test_bad_fractions_and_rates_are_refused_in_one_line(workspace, case):
    flag, value = case
    line = refused(workspace, f"{flag}={value}")
    assert names_the_value(line, flag, value), line


# --- space and device TOML -----------------------------------------------------------------------
TOML_SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["", "a\nb", "\r", "10\n"]),
)  # breaks a line
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=6,
)
RANGES = {"blocks": (1, 8), "filters": (1, 1024), "dense_units": (1, 65536)}
CHOICES = {
    "kernel_size": (1, 3, 5, 7),
    "pool": (1, 2, 4),
    "padding": ("same", "valid"),
    "head": ("flatten", "gap"),
}
FLAGS = ("separable", "batch_norm")


def valid_space_value(key: str, value: Any) -> bool:
    """An oracle, written apart from spaces/_space.py: is `value` allowed for `key`?"""

    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if key in RANGES:
        low, high = RANGES[key]
        pair = value if isinstance(value, list) else [value, value]
        return len(pair) == 2 and all(whole(v) for v in pair) and low <= pair[0] <= pair[1] <= high
    items = value if isinstance(value, list) else [value]
    if key in CHOICES:
        return bool(items) and all(
            not isinstance(v, (bool, list, dict)) and v in CHOICES[key] for v in items
        )
    if key in FLAGS:
        return bool(items) and all(isinstance(v, bool) for v in items)
    if key == "dense_optional":
        return isinstance(value, bool)
    if key == "dropout":
        return bool(items) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0
            for v in items
        )
    return False


SPACE_KEYS = [*RANGES, *CHOICES, *FLAGS, "dense_optional", "dropout"]


@st.composite
def bad_space(draw) -> tuple[str, Any]:
    key = draw(st.sampled_from(SPACE_KEYS) | st.text(min_size=1, max_size=8))
    value = draw(TOML_VALUES)
    assume(not valid_space_value(key, value))
    return key, value


def write(text: str) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    with handle:
        handle.write(text)
    return handle.name


@CASES
@given(bad_space())
def test_bad_space_files_are_refused_in_one_line(workspace, case):
    key, value = case
    path = write(tomli_w.dumps({key: value}))
    line = refused(workspace, "--space", path)
    assert f"space file {path}: " in line and (repr(key) in line or key in line), line


@CASES
@given(st.text(max_size=40))
def test_space_files_that_are_not_toml_are_refused_in_one_line(workspace, text):
    try:
        parsed = tomllib.loads(text)
        # the empty file is the default space, and a few keys can be right by chance
        assume(not all(valid_space_value(k, v) for k, v in parsed.items()))
    except tomllib.TOMLDecodeError:
        pass
    path = write(text)
    line = refused(workspace, "--space", path)
    assert f"space file {path}: " in line, line


DEVICE_NUMBERS = ("flash_bytes", "ram_bytes", "macs")
SETTINGS_KEYS = {f.name for _, f in setting_fields()} - {"out", "dataset", "data_dir"}


@st.composite
def bad_device(draw) -> tuple[dict[str, Any], str]:
    """A profile with one thing wrong, and the key the message must name."""
    profile: dict[str, Any] = {"name": "gen", "flash_bytes": 1000, "ram_bytes": 1000, "macs": 1000}
    how = draw(st.sampled_from(["number", "missing", "unknown", "text"]))
    if how == "number":
        key = draw(st.sampled_from(DEVICE_NUMBERS))
        profile[key] = draw(
            TOML_VALUES.filter(lambda v: isinstance(v, bool) or not isinstance(v, int) or v < 1)
        )
    elif how == "missing":
        key = draw(st.sampled_from(["name", "flash_bytes", "ram_bytes"]))
        del profile[key]
    elif how == "unknown":
        key = draw(
            st.text(min_size=1, max_size=8).filter(
                lambda k: k not in ("name", "description", *DEVICE_NUMBERS)
            )
        )
        profile[key] = draw(TOML_VALUES)
    else:
        key = draw(st.sampled_from(["name", "description"]))
        profile[key] = draw(TOML_VALUES.filter(lambda v: not isinstance(v, str)))
    return profile, key


@CASES
@given(bad_device())
def test_bad_device_profiles_are_refused_in_one_line(workspace, case):
    profile, key = case
    path = write(tomli_w.dumps(profile))
    line = refused(workspace, "--device", path)
    assert f"--device {path}: " in line and (repr(key) in line or f"{key} = " in line), line


@CASES
@given(st.sampled_from(sorted(SETTINGS_KEYS)) | st.text(min_size=1, max_size=8), TOML_VALUES)
def test_study_files_are_refused_in_one_line_or_accepted(workspace, key, value):
    """A study TOML (--config) with any value under any key: a known key with a value of the
    right type may be accepted; anything else is one line naming the key or the value."""
    path = write(tomli_w.dumps({key: value}))
    try:
        code, _, stderr = run_cli_in_process(
            "search",
            "--out",
            workspace["out"],
            "--dataset",
            workspace["data"],
            "--config",
            path,
        )
    except Accepted:
        assert key.replace("-", "_") in SETTINGS_KEYS, (key, value)
        return
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, (key, value, stderr)
    assert not workspace["out"].exists()
    shown = key.replace("_", "-")
    assert (
        repr(key) in lines[0]
        or f"{key} = " in lines[0]
        or f"--{shown} " in lines[0]
        or (key in ("space", "device", "dataset", "data_dir") and repr(value) in lines[0])
        or str(value) in lines[0]
    ), lines[0]


# --- design templates (`slimtune train --template`) -----------------------------------------------
VALID_TEMPLATE = {
    "template": {"name": "c3x4-p2|flatten", "source": "generated", "floor": 0.9},
    "recipe": {
        "epochs": 1,
        "batch_size": 32,
        "learning_rate": 0.01,
        "optimizer": "adam",
        "precision": "float32",
        "schedule": "cosine",
    },
    "config": {
        "blocks": [
            {"kernel_size": 3, "filters": 4, "pool": 2, "padding": "same", "separable": False}
        ],
        "head": "flatten",
        "dense_units": 0,
        "dropout": 0.0,
        "batch_norm": False,
    },
}


def _whole(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# An oracle written apart from spaces/_config.py and spaces/_recipe.py: the values each key allows.
TEMPLATE_VALUES = {
    ("template", "floor"): lambda v: _real(v) and 0 <= v <= 1,
    ("recipe", "epochs"): _whole(1),
    ("recipe", "batch_size"): _whole(1),
    ("recipe", "learning_rate"): lambda v: _real(v) and v > 0,
    ("recipe", "optimizer"): lambda v: v in ("adam", "adamw", "sgd", "rmsprop"),
    ("recipe", "precision"): lambda v: v in ("auto", "float32", "mixed_bfloat16"),
    ("recipe", "schedule"): lambda v: v in ("cosine", "constant"),
    ("config", "blocks", 0, "kernel_size"): _whole(1),
    ("config", "blocks", 0, "filters"): _whole(1),
    ("config", "blocks", 0, "pool"): _whole(1),
    ("config", "blocks", 0, "padding"): lambda v: v in ("same", "valid"),
    ("config", "blocks", 0, "separable"): lambda v: isinstance(v, bool),
    ("config", "head"): lambda v: v in ("flatten", "gap"),
    ("config", "dense_units"): _whole(0),
    ("config", "dropout"): lambda v: _real(v) and 0 <= v < 1,
    ("config", "batch_norm"): lambda v: isinstance(v, bool),
}
TABLES = [(), ("template",), ("recipe",), ("config",), ("config", "blocks", 0)]


def _at(data: dict, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


@st.composite
def bad_template(draw) -> tuple[dict[str, Any], str]:
    """A valid template with one thing wrong, and the text the message must name."""
    template = copy.deepcopy(VALID_TEMPLATE)
    how = draw(st.sampled_from(["value", "unknown key", "not a table"]))
    if how == "value":
        path = draw(st.sampled_from(sorted(TEMPLATE_VALUES, key=str)))
        value = draw(TOML_VALUES)
        assume(not TEMPLATE_VALUES[path](value))
        _at(template, path[:-1])[path[-1]] = value
        return template, path[-1]
    if how == "unknown key":
        path = draw(st.sampled_from(TABLES))
        table = _at(template, path)
        key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in table))
        table[key] = draw(TOML_VALUES)
        return template, key
    path = draw(st.sampled_from(TABLES[1:] + [("config", "blocks")]))
    value = draw(TOML_VALUES.filter(lambda v: not isinstance(v, dict)))
    assume(
        path != ("config", "blocks")
        or not isinstance(value, list)
        or not value
        or not all(isinstance(b, dict) for b in value)
    )
    _at(template, path[:-1])[path[-1]] = value
    return template, "blocks[0]" if path[-1] == 0 else path[-1]


def test_the_valid_template_of_these_cases_is_accepted(workspace):
    """So each case below fails because of the one value it changed."""
    path = write(tomli_w.dumps(VALID_TEMPLATE))
    with pytest.raises(Accepted):
        run_cli_in_process(
            "train", "--template", path, "--dataset", workspace["data"], "--out", workspace["out"]
        )


@CASES
@given(bad_template())
def test_bad_templates_are_refused_in_one_line(workspace, case):
    template, key = case
    path = write(tomli_w.dumps(template))
    try:
        code, _, stderr = run_cli_in_process(
            "train", "--template", path, "--dataset", workspace["data"], "--out", workspace["out"]
        )
    except Accepted:
        pytest.fail(f"template {template} was accepted")
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, (template, stderr)
    assert lines[0].startswith(f"slimtune: error: --template {path}: "), lines[0]
    assert repr(key) in lines[0] or key in lines[0], (key, lines[0])
    assert not workspace["out"].exists()
