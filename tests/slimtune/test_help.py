"""Every command's --help, read as a person at an 80- or 140-column terminal would: each option's
name is shown whole and each option says its default."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from slimtune.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands.items())


def option_blocks(text: str) -> dict[str, str]:
    """Option name -> the help text printed for it (its line and the indented lines after)."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        start = re.match(r"^  (?:-\w, )?(--[\w-]+)", line)
        if start:
            current = start.group(1)
            blocks[current] = line
        elif current and line.startswith("      "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


def test_search_options_sit_in_one_panel_per_settings_value():
    """`slimtune search --help` shows every setting in the panel of the value it belongs to,
    with the help text and default written once in search/_settings.py."""
    from slimtune.search import setting_fields

    shown = CliRunner().invoke(app, ["search", "--help"], terminal_width=120)
    panels = re.findall(r"(?m)^(\S[^:]*):$", shown.output)
    assert panels == [
        "Study and storage",
        "Data",
        "Training recipe",
        "Strategy",
        "Selection rule",
        "Budgets",
        "Execution",
        "Tracking",
        "Options",
    ]
    blocks = option_blocks(shown.output)
    for _group, setting in setting_fields():
        flag = "--" + setting.name.replace("_", "-")
        text = " ".join(blocks[flag].split())
        assert f"[default: {setting.metadata['shown']}]" in text, (flag, text)
    assert len(setting_fields()) + 1 == 44  # and --config


@pytest.mark.parametrize("width", [80, 140])
@pytest.mark.parametrize("name, command", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_help_shows_every_option_whole_with_its_default(name, command, width):
    shown = CliRunner().invoke(app, [name, "--help"], terminal_width=width)
    assert shown.exit_code == 0, shown.output
    blocks = option_blocks(shown.output)
    assert max(map(len, shown.output.splitlines())) <= width
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        longest = max(param.opts, key=len)
        assert longest in blocks, f"{name}: {longest} not shown whole:\n{shown.output}"
        if not param.required:
            text = " ".join(blocks[longest].split())
            assert "[default:" in text, f"{name} {longest}: no default shown: {text!r}"
