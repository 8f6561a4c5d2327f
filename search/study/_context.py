"""What the planner, the loop and the analysis share about one open study, and the per-trial
bookkeeping they all read: the configuration, footprint, constraints and outcome of a trial."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

from slimtune.search._errors import UsageError
from slimtune.search._settings import SIZE_OBJECTIVES, SearchSettings, SizedSettings
from slimtune.search.analysis import TrialRow
from slimtune.search.analysis.pareto import TrialPoint
from slimtune.spaces import (
    CNNConfig,
    Footprint,
    HyperModelConfig,
    HyperModelSpace,
    Recipe,
    SearchSpace,
    footprint,
)

if TYPE_CHECKING:
    from slimtune.search.study._peers import Peers
    from slimtune.search.training import SeedsOutcome


@dataclass
class StudyContext:
    """One open study and what it was opened with; built once per invocation by `open_study`."""

    settings: SizedSettings
    study: optuna.Study
    space: SearchSpace | HyperModelSpace
    recipe: Recipe
    input_shape: tuple[int, int, int]
    num_classes: int
    messages: list[str] = field(default_factory=list)
    peers: Peers | None = None  # set by run_search: the other drivers of this study
    # When the invocation began (time.monotonic): --timeout counts from here.
    started: float = field(default_factory=time.monotonic)

    @property
    def search_seeds(self) -> list[int]:
        return self.settings.search_seeds

    @property
    def confirm_seeds(self) -> list[int]:
        """Fresh seeds: never used during the search."""
        return self.settings.confirm_seeds

    def size_of(self, fp: Footprint) -> int:
        return getattr(fp, SIZE_OBJECTIVES[self.settings.strategy.size_objective])


def holds_floor_and_budgets(settings: SizedSettings, trial: FrozenTrial) -> bool:
    """Whether a completed trial is feasible under today's floor and budgets (what the Pareto
    analyzer accepts; the constraints stored with it hold the settings of its own invocation)."""
    fp = Footprint(**trial.user_attrs["footprint"])
    return trial.values[0] >= settings.validation_floor and all(
        v <= 0 for v in budget_violations(settings, fp).values()
    )


def budget_violations(settings: SearchSettings, fp: Footprint) -> dict[str, float]:
    """Budget name -> amount over (> 0 means violated) for every budget that is set. A value
    that was never predicted (-1: a trial recorded before the microcontroller's bytes were)
    counts as over by the whole budget: unknown is not known to fit."""
    return {
        name: float(limit if getattr(fp, fieldname) < 0 else getattr(fp, fieldname) - limit)
        for name, (fieldname, limit) in settings.budgets.limits().items()
    }


def record_proposal(
    trial: optuna.Trial, config: CNNConfig | HyperModelConfig, fp: Footprint
) -> None:
    trial.set_user_attr("config", config.to_dict())
    trial.set_user_attr("summary", config.summary())
    trial.set_user_attr("footprint", fp.to_dict())


def set_constraints(
    ctx: StudyContext, trial: optuna.Trial, worst_val: float | None, fp: Footprint
) -> None:
    """Optuna constraints (<= 0 is feasible): the accuracy floor and each budget."""
    if worst_val is not None:
        trial.set_constraint("accuracy_floor", ctx.settings.validation_floor - worst_val)
    for name, over in budget_violations(ctx.settings, fp).items():
        trial.set_constraint(name, over)


def record_outcome(trial: optuna.Trial, outcome: SeedsOutcome) -> None:
    trial.set_user_attr("seeds", outcome.seeds)
    trial.set_user_attr("val_accuracies", outcome.val_accuracies)
    trial.set_user_attr("worst_case_val_accuracy", outcome.worst_case_val_accuracy)
    trial.set_user_attr("train_time_s", round(outcome.train_time_s, 3))
    trial.set_user_attr("median_seed", outcome.median_seed)
    trial.set_user_attr("node", outcome.node)
    trial.set_user_attr("val_curves", outcome.val_curves)  # per seed, after each epoch
    trial.set_user_attr("epochs_run", outcome.epochs_run)
    trial.set_user_attr("epochs", outcome.epochs)  # of the recipe its accuracies come from
    if outcome.screen_val_accuracies:  # promoted: the first rung's accuracies
        trial.set_user_attr("screen_val_accuracies", outcome.screen_val_accuracies)
    trial.set_user_attr("precision", outcome.precision)
    trial.set_user_attr("ray_node_id", outcome.ray_node_id)
    trial.set_user_attr("node_ip", outcome.node_ip)


def trial_points(ctx: StudyContext) -> list[TrialPoint]:
    """Completed trials as the Pareto analyzer sees them (budgets re-checked with today's flags)."""
    points = []
    for trial in ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        fp = Footprint(**trial.user_attrs["footprint"])
        points.append(
            TrialPoint(
                number=trial.number,
                config=trial.user_attrs["config"],
                summary=trial.user_attrs["summary"],
                worst_case_val_accuracy=trial.values[0],
                size=trial.values[1],
                params=fp.params,
                within_budgets=all(v <= 0 for v in budget_violations(ctx.settings, fp).values()),
            )
        )
    return points


def count_states(study: optuna.Study) -> dict[TrialState, int]:
    counts = {state: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] += 1
    return counts


def footprint_of(ctx: StudyContext, config: CNNConfig | HyperModelConfig) -> Footprint:
    """The configuration's footprint; a HyperModel point's was measured on the model built for
    it. UsageError when a budget or the size objective needs what the walk could not measure."""
    if not isinstance(config, HyperModelConfig):
        return footprint(config, ctx.input_shape, ctx.num_classes)
    check_measurable(ctx.settings, config)
    assert config.footprint is not None  # HyperModelSpace.suggest measures every point it makes
    return config.footprint


def check_measurable(settings: SearchSettings, config: HyperModelConfig) -> None:
    """UsageError when a budget or the size objective needs what the footprint walk could not
    measure on this HyperModel point (a layer it does not know, or the microcontroller's bytes,
    predicted for slimtune's own blocks only)."""
    needed = {field for _, (field, _) in settings.budgets.limits().items()}
    needed.add(SIZE_OBJECTIVES[settings.strategy.size_objective])
    blind = sorted(field for field in needed if getattr(config.footprint, field) < 0)
    if not blind:
        return
    if config.unknown_layer is not None:
        raise UsageError(
            f"--hypermodel {settings.strategy.hypermodel}: the footprint walk does not know "
            f"layer {config.unknown_layer}, so {', '.join(blind)} cannot be "
            "measured; drop the budgets on it (or use --size-objective params), or "
            "build the model from known layers"
        )
    raise UsageError(
        f"--hypermodel {settings.strategy.hypermodel}: {', '.join(blind)} (the budgets "
        "--max-flash-bytes, --max-ram-bytes and --device) are predicted for slimtune's own "
        "blocks only; budget a HyperModel with --max-params or --max-macs"
    )


def trial_rows(ctx: StudyContext) -> list[TrialRow]:
    """Every trial of the study as a row of the trials table; `feasible` under today's floor and
    budgets, as the Pareto analysis reads it."""
    trials = ctx.study.get_trials(deepcopy=False)
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    origin = min(starts, default=None)

    def since_start(moment: datetime | None) -> float | None:
        return round((moment - origin).total_seconds(), 3) if moment and origin else None

    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        fp = Footprint(**attrs["footprint"]) if "footprint" in attrs else None
        complete = trial.state == TrialState.COMPLETE
        within = fp is not None and all(
            v <= 0 for v in budget_violations(ctx.settings, fp).values()
        )
        kernels = sorted({b["kernel_size"] for b in attrs.get("config", {}).get("blocks", [])})
        rows.append(
            TrialRow(
                number=trial.number,
                state=trial.state.name,
                summary=attrs.get("summary", ""),
                kernel_sizes="/".join(map(str, kernels)),
                size=float(ctx.size_of(fp)) if fp else None,
                params=fp.params if fp else None,
                weight_bytes_int8=fp.weight_bytes_int8 if fp else None,
                peak_activation_bytes_int8=fp.peak_activation_bytes_int8 if fp else None,
                macs=fp.macs if fp else None,
                val_accuracies=tuple(attrs.get("val_accuracies") or ()),
                worst_case_val_accuracy=trial.values[0] if complete else None,
                feasible=complete and holds_floor_and_budgets(ctx.settings, trial),
                within_budgets=within,
                epochs=attrs.get("epochs"),
                train_time_s=attrs.get("train_time_s"),
                started_s=since_start(trial.datetime_start),
                finished_s=since_start(trial.datetime_complete),
                reason=str(attrs.get("fail_reason", attrs.get("prune_reason", ""))),
                duplicate_of=attrs.get("duplicate_of"),
            )
        )
    return rows
