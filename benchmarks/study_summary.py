"""What each slimtune repeat of benchmarks/search_efficiency.py did, read from its Optuna study:
trials, trainings, promotions, shrink moves, feasible trials, the smallest validation-feasible
configuration, every candidate's confirmation (validation, recheck and test accuracies per fresh
seed) and the pick; per size band, the best first-seed validation accuracy after the first rung
and after the full recipe, and what promotion changed (a promoted trial's first seed, full recipe
minus first rung: fresh initialisations, so seed noise included) and the training time it took.

    python benchmarks/study_summary.py DIR/slimtune [--study-name efficiency]

DIR/slimtune holds one folder per repeat (r0, r1, ...), each with optuna.db and result.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import _common  # noqa: F401  (puts the repository on sys.path)

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

CONFIRMATION_PREFIX = "slimtune.confirmation."


def summarize(folder: Path, study_name: str) -> list[str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{folder}/optuna.db")
    trials = study.trials
    started = min(t.datetime_start for t in trials if t.datetime_start)
    trained = [
        t
        for t in trials
        if t.user_attrs.get("val_accuracies") is not None and "duplicate_of" not in t.user_attrs
    ]
    feasible = [
        t
        for t in trials
        if t.state.name == "COMPLETE" and all(v <= 0 for v in t.constraints.values())
    ]
    moves = [t for t in trials if "shrink_of" in t.user_attrs]
    lines = [
        f"{folder.name}: trials {len(trials)}, trained {len(trained)}, promoted "
        f"{sum(1 for t in trained if t.user_attrs.get('screen_val_accuracies'))}, shrink "
        f"moves {len(moves)} (feasible {sum(1 for t in moves if t in feasible)}), feasible "
        f"{len(feasible)}"
    ]
    lines += _by_size(trained)
    if feasible:
        first = min(feasible, key=lambda t: t.datetime_complete)
        smallest = min(feasible, key=lambda t: t.values[1])
        lines[0] += f", first feasible after {(first.datetime_complete - started).seconds}s"
        lines.append(
            f"   smallest validation-feasible: {smallest.user_attrs['summary']} "
            f"{smallest.user_attrs['footprint']['params']:,} params"
        )
    for key, record in study.user_attrs.items():
        if key.startswith(CONFIRMATION_PREFIX):
            lines.append(
                f"   candidate {key[len(CONFIRMATION_PREFIX) :]}: val "
                f"{record['val_accuracies']} recheck {record['recheck_accuracies']} "
                f"test {record.get('test_accuracies')}"
            )
    result = folder / "result.json"
    if result.exists():
        chosen = json.loads(result.read_text())["chosen"]
        lines.append(
            "   pick: "
            + (
                f"{chosen['summary']} {chosen['footprint']['params']:,} params, "
                f"worst test {chosen['worst_case_test_accuracy']:.4f}"
                if chosen
                else "none"
            )
        )
    return lines


SIZE_BANDS = (0, 1_000, 3_000, 10_000, 30_000, 100_000)


def _first_seeds(trial: FrozenTrial) -> tuple[float, float | None]:
    """The first seed's validation accuracy after the first rung, and after the full recipe
    (None unless promoted). The first seed is the one every trial trains (racing stops most
    trials after it)."""
    screen = trial.user_attrs.get("screen_val_accuracies")
    first = trial.user_attrs["val_accuracies"][0]
    return (screen[0], first) if screen else (first, None)


def _by_size(trained: list[FrozenTrial]) -> list[str]:
    """Trainings, promotions and the best first-seed validation accuracy per size band, then
    what promotion changed and the training time it took."""
    seeds = {t.number: _first_seeds(t) for t in trained}
    lines = []
    for low, high in zip(SIZE_BANDS, (*SIZE_BANDS[1:], None), strict=False):
        band = [
            t
            for t in trained
            if t.user_attrs["footprint"]["params"] >= low
            and (high is None or t.user_attrs["footprint"]["params"] < high)
        ]
        if not band:
            continue
        screens = [seeds[t.number][0] for t in band]
        fulls = [seeds[t.number][1] for t in band if seeds[t.number][1] is not None]
        lines.append(
            f"   {low:,}-{f'{high - 1:,}' if high else ''} params: {len(band)} trained, "
            f"{len(fulls)} promoted; best first seed {max(screens):.4f} after the first "
            f"rung" + (f", {max(fulls):.4f} after the full recipe" if fulls else "")
        )
    changes = [full - screen for screen, full in seeds.values() if full is not None]
    if changes:
        promoted_s = sum(
            t.user_attrs.get("train_time_s", 0.0) for t in trained if seeds[t.number][1] is not None
        )
        total_s = sum(t.user_attrs.get("train_time_s", 0.0) for t in trained)
        lines.append(
            f"   promotion: first seed full recipe minus first rung, median "
            f"{100 * statistics.median(changes):+.2f} points (range "
            f"{100 * min(changes):+.2f} to {100 * max(changes):+.2f}), higher in "
            f"{sum(c > 0 for c in changes)} of {len(changes)}; promoted trials "
            f"trained {promoted_s:,.0f} of {total_s:,.0f} s"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--study-name", default="efficiency")
    args = parser.parse_args(argv)
    for repeat in sorted(p for p in args.folder.glob("r*") if (p / "optuna.db").exists()):
        print("\n".join(summarize(repeat, args.study_name)))


if __name__ == "__main__":
    main()
