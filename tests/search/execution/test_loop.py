"""The real planner and trial loop in process (InlineExecutor, no Ray, no MLflow) on tiny data."""

from __future__ import annotations

from optuna.trial import TrialState

from slimtune.search import SearchSettings, resolve_dataset, run_study_in_process
from slimtune.spaces import SearchSpace
from support.data import make_dataset

SPACE = SearchSpace(
    blocks=(1, 1),
    kernel_size=(3,),
    filters=(1, 3),
    pool=(2,),
    head=("gap",),
    dense_units=(8, 8),
    dense_optional=False,
    dropout=(0.0,),
)


def test_the_loop_runs_the_planners_trials_to_the_target_and_resumes(tmp_path):
    source = resolve_dataset(str(make_dataset(tmp_path / "data")))
    train, val = source.train_val(val_size=20)
    settings = SearchSettings.of(
        out=str(tmp_path / "out"),
        trials=4,
        seeds=2,
        epochs=1,
        min_accuracy=0.2,
        workers=1,
        study_name="inline",
        confidence=0.5,
    )  # no margin: 20 validation images would make it 0.15
    study = run_study_in_process(settings, train, val, space=SPACE)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4
    trained = [
        t
        for t in study.trials
        if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
    ]
    assert trained and all(len(t.user_attrs["val_accuracies"]) == 2 for t in trained)
    again = run_study_in_process(settings.with_values(trials=5), train, val, space=SPACE)
    assert len(again.trials) == 5  # resumed: one more, none retrained
