"""The search driver: the only process that writes the Optuna storage and MLflow."""
from __future__ import annotations

import fcntl
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from search._errors import UsageError
from search._focus import FocusedSampler
from search._settings import SIZE_OBJECTIVES, SearchSettings, redact
from search._trainer import Recipe, SeedsOutcome
from search.pareto import TrialPoint
from spaces import CNNConfig, Footprint, SearchSpace, footprint

if TYPE_CHECKING:
    from search._drivers import Drivers

HEARTBEAT_INTERVAL_S = 20
GRACE_PERIOD_S = 60
ATTR_IDENTITY = "slimtune.identity"


@dataclass
class StudyContext:
    """What the trial loop needs; built once per invocation by `open_study`."""

    settings: SearchSettings
    study: optuna.Study
    space: SearchSpace
    recipe: Recipe
    input_shape: tuple[int, int, int]
    num_classes: int
    messages: list[str] = field(default_factory=list)
    drivers: Drivers | None = None  # set by run_search: who else works on this study

    @property
    def search_seeds(self) -> list[int]:
        return [self.settings.seed * 1000 + k for k in range(self.settings.seeds)]

    @property
    def confirm_seeds(self) -> list[int]:
        """Fresh seeds: never used during the search."""
        return [self.settings.seed * 1000 + 500 + k for k in range(self.settings.seeds)]

    def size_of(self, fp: Footprint) -> int:
        return getattr(fp, SIZE_OBJECTIVES[self.settings.size_objective])


@contextmanager
def storage_lock(settings: SearchSettings) -> Iterator[bool]:
    """SQLite must have one writer: refuse a second driver on the same SQLite file.

    Yields True when this driver is the study's only one (SQLite), False on a shared RDB.
    """
    from sqlalchemy.engine import make_url

    url = make_url(settings.storage)
    if url.get_backend_name() != "sqlite" or not url.database:
        yield False
        return
    lock_path = Path(url.database + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"--storage {settings.storage} is in use by another slimtune search; "
                             "wait for it to finish, or use PostgreSQL for several drivers") from None
        yield True


def identity(settings: SearchSettings, space: SearchSpace, recipe: Recipe,
             input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """What must not change when a study is resumed, or its trials would not be comparable."""
    return {"dataset": settings.dataset_name, "train_subset": settings.train_subset,
            "val_size": settings.val_size, "seeds": settings.seeds, "seed": settings.seed,
            "recipe": recipe.to_dict(), "space": space.to_dict(),
            "size_objective": settings.size_objective, "input_shape": list(input_shape),
            "num_classes": num_classes}


def open_study(settings: SearchSettings, space: SearchSpace, recipe: Recipe,
               input_shape: tuple[int, int, int], num_classes: int) -> StudyContext:
    """Create or resume the study; refuses a resume whose identity differs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # We record heartbeats ourselves in the ask/tell loop (search/_loop.py).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
    storage = optuna.storages.RDBStorage(
        settings.storage, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=GRACE_PERIOD_S,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=settings.max_retries))
    wanted = identity(settings, space, recipe, input_shape, num_classes)
    sampler = _sampler(settings)
    if settings.focus:
        describe = _describe_params(settings, space, input_shape, num_classes)
        sampler = FocusedSampler(sampler, describe,
                                 lambda trial: holds_floor_and_budgets(settings, trial),
                                 seed=settings.seed)
    try:
        study = optuna.load_study(study_name=settings.study_name, storage=storage,
                                  sampler=sampler)
    except KeyError:
        # load_if_exists: another driver of a shared RDB may create it at the same moment.
        study = optuna.create_study(study_name=settings.study_name, storage=storage,
                                    directions=["maximize", "minimize"],
                                    sampler=sampler, load_if_exists=True)
        if ATTR_IDENTITY not in study.user_attrs:
            study.set_user_attr(ATTR_IDENTITY, wanted)
            study.set_metric_names(["worst_case_val_accuracy", settings.size_objective])
    stored = study.user_attrs.get(ATTR_IDENTITY, {})
    for key, value in wanted.items():
        if stored.get(key) != value:
            raise UsageError(f"study {settings.study_name!r} in {redact(settings.storage)} was "
                             f"created with "
                             f"{key} = {stored.get(key)!r}, not {value!r}; pass the same settings "
                             "to resume it, or choose a new --study-name")
    return StudyContext(settings, study, space, recipe, input_shape, num_classes)


def requeue_interrupted(ctx: StudyContext) -> int:
    """Fail trials left RUNNING by a driver that died and queue their configurations again.

    With SQLite this driver holds the lock, so every RUNNING trial is orphaned; on a shared RDB
    only those whose heartbeat stopped (Optuna's grace period) are.
    """
    study = ctx.study
    storage = study._storage
    if ctx.settings.storage.startswith("sqlite"):  # storage_lock makes this driver the only one
        orphans = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        callback = storage.get_heartbeat_stale_trial_callback()
        for trial in orphans:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason",
                                        "the driver stopped before the trial finished")
            storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            callback(study, study._storage.get_trial(trial._trial_id))
        return len(orphans)
    optuna.storages.fail_stale_trials(study)
    return 0


def _sampler(settings: SearchSettings) -> optuna.samplers.BaseSampler:
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=settings.seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    return optuna.samplers.TPESampler(seed=settings.seed, multivariate=True, group=True,
                                      constant_liar=True)


def _describe_params(settings: SearchSettings, space: SearchSpace, input_shape: tuple[int, ...],
                     num_classes: int) -> Callable[[dict[str, Any]], tuple[float, str] | None]:
    """(size objective, summary) of the configuration that sampled `params` describe (--focus)."""
    field_name = SIZE_OBJECTIVES[settings.size_objective]

    def describe(params: dict[str, Any]) -> tuple[float, str] | None:
        try:
            config = space.suggest(optuna.trial.FixedTrial(params))
        except ValueError:
            return None  # a parameter is left to independent sampling: cannot tell yet
        try:
            return getattr(footprint(config, input_shape, num_classes), field_name), \
                config.summary()
        except ValueError:
            return math.inf, config.summary()  # cannot be built: would only be pruned

    return describe


# --- per-trial bookkeeping ---------------------------------------------------------------------
def holds_floor_and_budgets(settings: SearchSettings, trial: FrozenTrial) -> bool:
    """Whether a completed trial is feasible under today's floor and budgets (what the Pareto
    analyzer accepts; the constraints stored with it hold the settings of its own invocation)."""
    fp = Footprint(**trial.user_attrs["footprint"])
    return trial.values[0] >= settings.min_accuracy and all(
        v <= 0 for v in budget_violations(settings, fp).values())


def budget_violations(settings: SearchSettings, fp: Footprint) -> dict[str, float]:
    """Budget name -> amount over (> 0 means violated) for every budget that is set."""
    return {name: float(getattr(fp, fieldname) - limit)
            for name, (fieldname, limit) in settings.budgets().items()}


def record_proposal(trial: optuna.Trial, config: CNNConfig, fp: Footprint) -> None:
    trial.set_user_attr("config", config.to_dict())
    trial.set_user_attr("summary", config.summary())
    trial.set_user_attr("footprint", fp.to_dict())


def set_constraints(ctx: StudyContext, trial: optuna.Trial, worst_val: float | None,
                    fp: Footprint) -> None:
    """Optuna constraints (<= 0 is feasible): the accuracy floor and each budget."""
    if worst_val is not None:
        trial.set_constraint("accuracy_floor", ctx.settings.min_accuracy - worst_val)
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
    trial.set_user_attr("precision", outcome.precision)
    trial.set_user_attr("ray_node_id", outcome.ray_node_id)
    trial.set_user_attr("node_ip", outcome.node_ip)


def trial_points(ctx: StudyContext) -> list[TrialPoint]:
    """Completed trials as the Pareto analyzer sees them (budgets re-checked with today's flags)."""
    points = []
    for trial in ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        fp = Footprint(**trial.user_attrs["footprint"])
        points.append(TrialPoint(
            number=trial.number, config=trial.user_attrs["config"],
            summary=trial.user_attrs["summary"], worst_case_val_accuracy=trial.values[0],
            size=trial.values[1], params=fp.params,
            within_budgets=all(v <= 0 for v in budget_violations(ctx.settings, fp).values())))
    return points


def count_states(study: optuna.Study) -> dict[TrialState, int]:
    counts = {state: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state] += 1
    return counts


def footprint_of(ctx: StudyContext, config: CNNConfig) -> Footprint:
    return footprint(config, ctx.input_shape, ctx.num_classes)


def ensure_writable(folder: Path) -> None:
    """Create `folder` and prove it is writable, before anything else is touched."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {folder}: not writable ({exc.strerror}); choose a folder you "
                         "can write to") from None
