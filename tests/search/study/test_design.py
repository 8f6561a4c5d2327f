"""The initial design (search/study/_design.py): a new study's first trials walk up from the
small end of the space, queued once, crash-safe, and never into a study that already ran."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from slimtune.search._settings import SearchSettings
from slimtune.search.study._design import (
    ATTR_DESIGNED,
    DESIGN_ATTR,
    queue_design,
    small_first_design,
)
from slimtune.search.study._open import open_study
from slimtune.spaces import DEFAULT_SPACE_PATH, Recipe, footprint, load_space

SPACE = load_space(DEFAULT_SPACE_PATH)


class Replay:
    """A `spaces.Suggester` that answers with a stored parameter set."""

    def __init__(self, params):
        self.params = params

    def suggest_int(self, name, low, high, *, log=False):
        assert low <= self.params[name] <= high
        return self.params[name]

    def suggest_categorical(self, name, choices):
        assert self.params[name] in choices
        return self.params[name]


def sizes(design, shape=(28, 28, 1), classes=10):
    return [footprint(SPACE.suggest(Replay(p)), shape, classes).params for p in design]


def test_the_design_spans_the_space_smallest_first():
    design = small_first_design(SPACE, (28, 28, 1), 10, 10, seed=0)
    params = sizes(design)
    assert len(design) == 10 and params == sorted(params)
    assert params[0] < 100 and params[-1] > 1_000_000  # from the small end to the large
    assert small_first_design(SPACE, (28, 28, 1), 10, 10, seed=0) == design  # seeded
    # The shape and class count come from the data: another input gives other sizes.
    assert sizes(small_first_design(SPACE, (8, 8, 3), 4, 5, seed=0), (8, 8, 3), 4)[0] < 100


def test_a_new_study_queues_the_design_once(tmp_path):
    settings = (
        SearchSettings.of(out=str(tmp_path), study_name="unit", trials=6)
        .resolved()
        .sized_for(60_000)
    )
    ctx = open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10)
    waiting = ctx.study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs[DESIGN_ATTR] for t in waiting] == list(range(6))  # capped at --trials
    assert ctx.study.user_attrs[ATTR_DESIGNED] == 6
    first = ctx.study.ask()  # the smallest goes first
    assert first.params == waiting[0].params
    open_study(settings, SPACE, Recipe(epochs=1), (28, 28, 1), 10)  # resumed: nothing added
    assert len(ctx.study.get_trials(states=(TrialState.WAITING,))) == 5


def test_a_design_cut_short_by_a_kill_is_completed_without_duplicates(tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    design = small_first_design(SPACE, (28, 28, 1), 10, 10, seed=0)
    for params in design[:3]:  # killed after three, before the study was marked
        study.enqueue_trial(params)
    assert queue_design(study, SPACE, (28, 28, 1), 10, trials=30, seed=0) == 10
    assert len(study.trials) == 10 and study.user_attrs[ATTR_DESIGNED] == 10


def test_a_study_that_already_ran_keeps_its_own_start():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.tell(study.ask(), [0.9, 100])
    assert queue_design(study, SPACE, (28, 28, 1), 10, trials=30, seed=0) == 0
    assert len(study.trials) == 1
