"""`slimtune search`'s options, made from the settings' own declarations (search/_settings.py):
each flag's type, help text, `[default: ...]` and help panel are written once, there."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional, get_args, get_type_hints

import typer

CONFIG_HELP = "Study TOML with the same keys as these flags; flags given here override it."


def search_parameters() -> list[inspect.Parameter]:
    """The command's parameters: the context, --config, then one option per setting, grouped in
    panels by the settings value it belongs to."""
    from slimtune.search import setting_fields

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter("ctx", keyword, annotation=typer.Context),
        inspect.Parameter(
            "config",
            keyword,
            default=None,
            annotation=Annotated[
                Path | None,
                typer.Option(  # noqa: UP045 (Typer reads it)
                    help=f"{CONFIG_HELP} [default: none]", rich_help_panel="Study and storage"
                ),
            ],
        ),
    ]
    for group, setting in setting_fields():
        hint = get_type_hints(group)[setting.name]
        parameters.append(
            inspect.Parameter(
                setting.name,
                keyword,
                default=None,
                annotation=_annotation(setting.name, hint, setting.metadata, group.PANEL),
            )
        )
    return parameters


def _annotation(name: str, hint: Any, meta: Any, panel: str) -> Any:
    kind: Any = next((t for t in get_args(hint) or (hint,) if t is not type(None)), str)
    if meta["choices"]:
        kind = _choices(name, meta["choices"])
    declarations = (meta["flag"],) if meta["flag"] else ()
    option = typer.Option(
        *declarations, help=f"{meta['help']} [default: {meta['shown']}]", rich_help_panel=panel
    )
    return Annotated[Optional[kind], option]  # noqa: UP045 (Typer reads it)


def _choices(name: str, choices: tuple[str, ...]) -> Any:
    """An Enum of `choices`, which Click shows in the help and checks on the command line."""
    return StrEnum(name.title().replace("_", ""), {c: c for c in choices})


def search_command(run: Callable[[Path | None, dict[str, Any]], None]) -> Callable[..., None]:
    """The Typer command function: hands `run` the --config path and the flags given (None for
    those left out, so the study TOML's values stand)."""

    def search(**values: Any) -> None:
        """Run (or resume) a constrained multi-objective search and register the confirmed
        winner."""
        values.pop("ctx")
        config = values.pop("config")
        run(config, {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()})

    search.__signature__ = inspect.Signature(search_parameters())  # type: ignore[attr-defined]
    return search
