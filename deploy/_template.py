"""Design templates: a chosen architecture plus the recipe that trained it, as TOML, so it can be
trained again on new data (`slimtune train --template FILE`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimtune.spaces import (
    MODEL_NAME_BATCH_NORM,
    CNNConfig,
    ConfigError,
    ConvBlock,
    Recipe,
    RecipeError,
    read_toml,
)
from slimtune.trackers import write_bytes_atomic

if TYPE_CHECKING:
    import keras

_TOP_KEYS = {"template", "config", "recipe"}
_INFO_KEYS = {"name", "source", "floor"}


class TemplateError(ValueError):
    """A template file or value is invalid; the message names the key and the fix."""


@dataclass(frozen=True)
class DesignTemplate:
    """`config` and `recipe` define the training; `source` and `floor` record where it came from
    (the model URI and the accuracy floor it was registered with), for people reading the file."""

    config: CNNConfig
    recipe: Recipe = field(default_factory=Recipe)
    source: str = ""
    floor: float | None = None

    @property
    def name(self) -> str:
        return self.config.summary()

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "source": self.source}
        if self.floor is not None:
            info["floor"] = self.floor
        return {"template": info, "recipe": self.recipe.to_dict(), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignTemplate:
        _known(data, _TOP_KEYS, "top-level key")
        if "config" not in data:
            raise TemplateError(
                "missing [config] table; export one with `slimtune export-template`"
            )
        info = data.get("template", {})
        _known(info, _INFO_KEYS, "[template] key")
        recipe_data = data.get("recipe", {})
        _known(recipe_data, {f.name for f in fields(Recipe)}, "[recipe] key")
        try:
            recipe = Recipe(**recipe_data)
        except RecipeError as exc:
            raise TemplateError(f"[recipe] {exc.key} = {exc.value!r}: {exc.fix}") from None
        try:
            config = CNNConfig.from_dict(data["config"])
        except ConfigError as exc:  # CNNConfig validates every value, once, for every caller
            raise TemplateError(
                f"[config] {exc}; compare with a file written by `slimtune export-template`"
            ) from None
        floor = info.get("floor")
        if floor is not None and (
            isinstance(floor, bool)
            or not isinstance(floor, (int, float))
            or not 0.0 <= floor <= 1.0
        ):
            raise TemplateError(
                f"[template] floor = {floor!r}: use a fraction between 0 and 1, or leave it out"
            )
        return cls(
            config=config,
            recipe=recipe,
            source=str(info.get("source", "")),
            floor=float(floor) if floor is not None else None,
        )

    def to_toml(self) -> str:
        import tomli_w

        header = (
            "# slimtune design template: the architecture and training recipe of a chosen\n"
            "# model. Train it on new data with: slimtune train --template THIS_FILE\n"
        )
        return header + tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, path: Path) -> DesignTemplate:
        data = read_toml(
            path, TemplateError, f"--template {path}", "pass an existing template TOML"
        )
        try:
            return cls.from_dict(data)
        except TemplateError as exc:
            raise TemplateError(f"--template {path}: {exc}") from None


def save_template(template: DesignTemplate, path: Path) -> None:
    """Write the template TOML atomically."""
    write_bytes_atomic(path, template.to_toml().encode())


def config_from_model(model: keras.Model) -> CNNConfig:
    """The CNNConfig of a model built by `spaces.build_model` (read from its layer names and
    settings). Raises TemplateError for a model slimtune did not build."""
    layers = {layer.name: layer.get_config() for layer in model.layers}
    blocks: list[ConvBlock] = []
    while f"conv{len(blocks)}" in layers:
        i = len(blocks)
        conv = layers[f"conv{i}"]
        pool = layers.get(f"pool{i}", {}).get("pool_size", (1, 1))
        blocks.append(
            ConvBlock(
                kernel_size=int(conv["kernel_size"][0]),
                filters=int(conv["filters"]),
                pool=int(pool[0]),
                padding=str(conv["padding"]),
                separable="depth_multiplier" in conv,
            )
        )
    head = "flatten" if "flatten" in layers else "gap" if "gap" in layers else None
    expected = {f"conv{i}" for i in range(len(blocks))} | {f"pool{i}" for i in range(len(blocks))}
    unknown = set(layers) - expected - {"image", "flatten", "gap", "hidden", "dropout", "classes"}
    if not blocks or head is None or "classes" not in layers or unknown:
        raise TemplateError(
            f"model {model.name!r} was not built by slimtune (layers "
            f"{sorted(layers)}); export a model logged by `slimtune search` or "
            "`slimtune train`"
        )
    return CNNConfig(
        blocks=tuple(blocks),
        head=head,
        dense_units=int(layers.get("hidden", {}).get("units", 0)),
        dropout=float(layers.get("dropout", {}).get("rate", 0.0)),
        # deployed models carry BatchNorm folded; the name says it trained with it
        batch_norm=model.name == MODEL_NAME_BATCH_NORM,
    )


def _known(data: Any, known: set[str], what: str) -> None:
    if not isinstance(data, dict):
        raise TemplateError(f"expected a table for {what.split(' ')[0]}, got {data!r}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise TemplateError(f"unknown {what} {unknown[0]!r}; expected one of {sorted(known)}")
