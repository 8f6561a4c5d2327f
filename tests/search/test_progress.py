"""The progress report's logic: what the bar says from the trials reported, and that output which
is not a terminal gets only the plain lines. The bar on a real terminal during a real search is
tests/integration/test_progress_bar.py."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from optuna.trial import TrialState, create_trial
from rich.console import Console

from slimtune.search._progress import Progress

CTX = SimpleNamespace(
    settings=SimpleNamespace(
        strategy=SimpleNamespace(size_objective="params"), training=SimpleNamespace(epochs=1)
    )
)


def trial(
    number: int,
    state: TrialState = TrialState.COMPLETE,
    accuracy: float = 0.9,
    params: int = 1234,
    floor_gap: float = -0.1,
):
    attrs = {"summary": f"c{number}x3v-p2|flatten", "footprint": {"params": params}}
    if state == TrialState.PRUNED:
        made = create_trial(state=state, user_attrs=attrs | {"prune_reason": "stopped early"})
    else:
        made = create_trial(
            values=[accuracy, params], user_attrs=attrs, constraints={"accuracy_floor": floor_gap}
        )
    made.number = number
    return made


def shown(progress: Progress) -> str:
    screen = Console(file=io.StringIO(), width=80, color_system=None)
    screen.print(progress._bar())
    return screen.file.getvalue()


def test_the_bar_counts_trials_and_estimates_the_end_from_mean_training_time_and_workers():
    progress = Progress(Console(file=io.StringIO(), width=80))
    progress.start(total=10, already_done=2, workers=2)
    assert "trials 2/10" in shown(progress) and "ETA after the first training" in shown(progress)
    for number in (2, 3, 4):
        progress.trial_started(number)
    progress.running[2] -= 40.0  # as if trial 2 had trained for 40 s
    progress.trial_done(trial(2, params=5000), CTX)
    progress.trial_done(trial(3, accuracy=0.4, params=900, floor_gap=0.2), CTX)  # infeasible
    progress.trial_done(trial(5, TrialState.PRUNED), CTX)  # pruned untrained: not timed
    bar = shown(progress)
    assert "trials 5/10" in bar and "running 1, failed 0, pruned 1" in bar
    assert "smallest feasible 5,000 params (c2x3v-p2|flatten)" in bar  # 900 is below the floor
    # 5 trials left x a mean of ~20 s (40 s and ~0 s) over 2 workers: about 50 s.
    eta = re.search(r"ETA 0:00:(\d\d) \(mean trial (\d+)s, 2 workers\)", bar)
    assert eta and 45 <= int(eta.group(1)) <= 50 and eta.group(2) == "20", bar
    assert max(map(len, bar.splitlines())) <= 80


def test_without_a_terminal_only_plain_lines_are_written():
    out = io.StringIO()
    progress = Progress(Console(file=out, highlight=False, soft_wrap=True))
    progress.start(total=2, already_done=0, workers=2)
    progress.trial_started(0)
    progress.trial_done(trial(0), CTX)
    progress.close()
    progress.stop()
    text = out.getvalue()
    assert progress.live is None and "\x1b" not in text and "trials 1/2" not in text
    assert re.search(
        r"^\[1/2\] trial 0 c0x3v-p2\|flatten params=1,234: worst val acc 0\.9000 "
        r"feasible \| failed 0, feasible 1, smallest feasible 1,234 params "
        r"\(c0x3v-p2\|flatten\) \| \d+s$",
        text,
        re.MULTILINE,
    ), text
