"""slimtune: the smallest CNN that still meets a worst-case accuracy floor.

One installed package: the command line lives here (`slimtune/`), and the concept folders at the
top of the repository install as its subpackages `slimtune.spaces`, `slimtune.search`,
`slimtune.trackers` and `slimtune.deploy` (pyproject's package-dir)."""

from pathlib import Path

# A source checkout used without installing it (a Ray Job's working_dir, `python -m slimtune` in
# the repository): the concept folders sit beside this one, so `slimtune.search` is found there.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "search" / "__init__.py").is_file():
    __path__.append(str(_checkout))
