"""Opening a study: the SQLite single-writer lock, the study's identity (what a resume must not
change), creating or loading it, and failing the trials a dead driver left running."""

from __future__ import annotations

import copy
import fcntl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from slimtune.search._data import SPLIT_ORDER
from slimtune.search._errors import UsageError
from slimtune.search._settings import ResolvedSettings, SearchSettings, SizedSettings
from slimtune.search.study import _optuna_private as private
from slimtune.search.study._context import StudyContext
from slimtune.search.study._design import queue_design
from slimtune.search.study._storage import RideOut, open_storage
from slimtune.spaces import HyperModelSpace, Recipe, SearchSpace
from slimtune.trackers import redact

HEARTBEAT_INTERVAL_S = 20
GRACE_PERIOD_S = 60
ATTR_IDENTITY = "slimtune.identity"
ATTR_DATA = "data"  # identity key of the data digests; a study made before it had none


def data_digests(study: optuna.Study) -> dict[str, str]:
    """The content digests of the splits the study trains and validates on, as its identity
    holds them ({} for a study made before digests were recorded)."""
    return dict(study.user_attrs.get(ATTR_IDENTITY, {}).get(ATTR_DATA) or {})


@contextmanager
def storage_lock(settings: ResolvedSettings) -> Iterator[bool]:
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
            raise UsageError(
                f"--storage {settings.storage} is in use by another slimtune search; "
                "wait for it to finish, or use PostgreSQL for several drivers"
            ) from None
        yield True


def identity(
    settings: SizedSettings,
    space: SearchSpace | HyperModelSpace,
    recipe: Recipe,
    input_shape: tuple[int, ...],
    num_classes: int,
    data: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What must not change when a study is resumed, or its trials would not be comparable.
    `data`: the content digests of the training and validation splits (search/_data.py
    `Split.digest`), so the same settings on other files are refused too."""
    return {
        "dataset": settings.data.dataset_name,
        "split_order": SPLIT_ORDER,
        "train_subset": settings.data.train_subset,
        "recheck_size": settings.held_out.recheck_size,
        "val_size": settings.held_out.val_size,
        "seeds": settings.selection.seeds,
        "seed": settings.strategy.seed,
        "recipe": recipe.to_dict(),
        "full_epochs": settings.training.full_recipe.epochs,
        "space": space.to_dict(),
        "size_objective": settings.strategy.size_objective,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
    } | ({ATTR_DATA: data} if data is not None else {})


def open_study(
    settings: SizedSettings,
    space: SearchSpace | HyperModelSpace,
    recipe: Recipe,
    input_shape: tuple[int, int, int],
    num_classes: int,
    sampler: optuna.samplers.BaseSampler | None = None,
    data: dict[str, str] | None = None,
    ride_out: RideOut | None = None,
) -> StudyContext:
    """Create or resume the study; refuses a resume whose identity differs. `sampler` comes from
    the planner (search/study/_planner.py); None: `base_sampler(settings)`. `data`: split name ->
    content digest of the splits the trials train and validate on (None: not checked).
    `ride_out`: ride out a restart of the database server (search/study/_storage.py)."""
    _quiet_optuna()
    storage = open_storage(
        settings.storage,
        ride_out,
        heartbeat_interval=HEARTBEAT_INTERVAL_S,
        grace_period=GRACE_PERIOD_S,
        heartbeat_stale_trial_callback=RetryWithoutTheStop(
            max_retry=settings.execution.max_retries
        ),
    )
    wanted = identity(settings, space, recipe, input_shape, num_classes, data)
    sampler = sampler or base_sampler(settings)
    try:
        study = optuna.load_study(study_name=settings.study_name, storage=storage, sampler=sampler)
    except KeyError:
        # load_if_exists: another driver of a shared RDB may create it at the same moment.
        study = optuna.create_study(
            study_name=settings.study_name,
            storage=storage,
            directions=["maximize", "minimize"],
            sampler=sampler,
            load_if_exists=True,
        )
        if ATTR_IDENTITY not in study.user_attrs:
            study.set_user_attr(ATTR_IDENTITY, wanted)
            study.set_metric_names(["worst_case_val_accuracy", settings.strategy.size_objective])
    stored = study.user_attrs.get(ATTR_IDENTITY, {})
    for key, value in wanted.items():
        if key == ATTR_DATA and key not in stored:
            continue  # a study made before data digests were recorded: adopted below
        if key == ATTR_DATA and stored[key] != value:
            changed = ", ".join(
                f"{split} {stored[key].get(split)} -> {digest}"
                for split, digest in value.items()
                if stored[key].get(split) != digest
            )
            raise UsageError(
                f"study {settings.study_name!r} in {redact(settings.storage)} was "
                f"created on other data (content digests {changed}); point "
                "--dataset/--data-dir at the files it was created with, or choose a "
                "new --study-name"
            )
        if stored.get(key) != value:
            raise UsageError(
                f"study {settings.study_name!r} in {redact(settings.storage)} was "
                f"created with "
                f"{key} = {stored.get(key)!r}, not {value!r}; pass the same settings "
                "to resume it, or choose a new --study-name"
            )
    if ATTR_DATA in wanted and ATTR_DATA not in stored:
        study.set_user_attr(ATTR_IDENTITY, stored | {ATTR_DATA: wanted[ATTR_DATA]})
    if settings.strategy.initial_design == "small" and isinstance(space, SearchSpace):
        # Under the creation lock (run_search): one driver of a shared study queues it.
        queue_design(
            study,
            space,
            input_shape,
            num_classes,
            settings.study.trials,
            settings.strategy.seed,
        )
    return StudyContext(settings, study, space, recipe, input_shape, num_classes)


# What a stop writes on the trial it cut short (requeue_interrupted, Planner.tell_abandoned).
STOP_ATTRS = ("fail_reason", "interrupted")


class RetryWithoutTheStop(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a stopped trial, minus the stop's own attributes: the retry copies every
    user attribute, so a retry that then completed still read as interrupted, with the stop's
    reason in trials.csv and its MLflow run (found by benchmarks/soak.py), and one that failed
    for its own reason was closed KILLED instead of FAILED."""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        retried = copy.copy(trial)
        retried.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in STOP_ATTRS}
        super().__call__(study, retried)


def requeue_interrupted(ctx: StudyContext) -> int:
    """Fail trials left RUNNING by a driver that died and queue their configurations again.

    With SQLite this driver holds the lock, so every RUNNING trial is orphaned; on a shared RDB
    only those whose heartbeat stopped (Optuna's grace period) are.
    """
    study = ctx.study
    if ctx.settings.storage.startswith("sqlite"):  # storage_lock makes this driver the only one
        orphans = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        requeue = private.stale_trial_callback(study)
        for trial in orphans:
            private.set_user_attr(
                study, trial, "fail_reason", "the driver stopped before the trial finished"
            )
            private.set_user_attr(study, trial, "interrupted", True)
            assert requeue is not None  # open_study gives the storage RetryWithoutTheStop
            requeue(study, private.fail(study, trial))
        return len(orphans)
    optuna.storages.fail_stale_trials(study)
    return 0


def base_sampler(settings: SearchSettings) -> optuna.samplers.BaseSampler:
    """The sampler `--sampler` names, seeded with `--seed`."""
    _quiet_optuna()
    if settings.strategy.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=settings.strategy.seed)
    if settings.strategy.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.strategy.seed)
    return optuna.samplers.TPESampler(
        seed=settings.strategy.seed, multivariate=True, group=True, constant_liar=True
    )


def _quiet_optuna() -> None:
    """Optuna's experimental-feature and heartbeat warnings would break the one-line output."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # We record heartbeats ourselves in the ask/tell loop (search/execution/_loop.py).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
