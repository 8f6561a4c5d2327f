"""The slimtune command line (`slimtune ...` or `python -m slimtune ...`): the Typer app, its
commands and their console output. The only package that imports all four others."""
