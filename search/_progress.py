"""Live progress of a search on stderr: one line per finished trial with running totals and, when
stderr is a terminal, a bar pinned below those lines (trials done of N, running, failed, pruned,
the smallest feasible so far, elapsed and an ETA). Elsewhere (Ray Job logs, CI, a pipe) only the
lines are written, as plain text."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from slimtune.search.study._focus import FOCUS_REASON

if TYPE_CHECKING:
    from slimtune.search.study._context import StudyContext


class Progress:
    """What the trial loop (search/execution/_loop.py) reports: `start`, then `trial_started`
    when a training is submitted and `trial_done` when a trial is recorded, then `stop`; `close`
    (idempotent) ends the bar on any exit. `note` prints a line (above the bar, if any)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.total = self.done = self.failed = self.feasible = self.out_of_focus = 0
        self.pruned = 0
        self.smallest: tuple[float, str] | None = None
        self.started = time.monotonic()
        self.workers = 1
        self.running: dict[int, float] = {}  # trial number -> when its training was submitted
        self.trained_s: list[float] = []  # this invocation's trainings, for the ETA
        self.eta_at: float | None = None  # monotonic time the last estimate expects the end
        self.size_objective = ""
        self.live: Live | None = None

    def note(self, message: str) -> None:
        self.console.print(message)

    def start(self, total: int, already_done: int, workers: int = 1) -> None:
        self.total, self.done, self.workers = total, already_done, max(1, workers)
        self.started = time.monotonic()
        resumed = f" ({already_done} already finished, not retrained)" if already_done else ""
        self.note(f"search: {total} trials{resumed}")
        if _on_terminal(self.console):
            # Lines printed to stdout on the same screen go above the bar instead of through
            # it; stdout sent elsewhere (`> file`) stays there.
            self.live = Live(
                console=self.console,
                get_renderable=self._bar,
                refresh_per_second=2,
                redirect_stdout=sys.stdout.isatty(),
            )
            self.live.start()

    def trial_started(self, number: int) -> None:
        self.running[number] = time.monotonic()

    def trial_done(self, trial: FrozenTrial, ctx: StudyContext) -> None:
        started = self.running.pop(trial.number, None)
        if started is not None:
            self.trained_s.append(time.monotonic() - started)
        self.size_objective = ctx.settings.strategy.size_objective
        self._print_trial(trial, ctx)
        remaining = max(0, self.total - self.done)
        if self.trained_s:
            mean_s = sum(self.trained_s) / len(self.trained_s)
            self.eta_at = time.monotonic() + remaining * mean_s / self.workers

    def _print_trial(self, trial: FrozenTrial, ctx: StudyContext) -> None:
        attrs = trial.user_attrs
        if trial.state == TrialState.FAIL:
            self.failed += 1
            outcome = f"[red]failed[/red]: {attrs.get('fail_reason', '')[:120]}"
        elif trial.state == TrialState.PRUNED:
            self.done += 1
            self.pruned += 1
            if attrs.get("prune_reason", "").startswith(FOCUS_REASON):
                self.out_of_focus += 1  # untrained and many: counted, not one line each
                return
            outcome = f"[yellow]pruned[/yellow]: {attrs.get('prune_reason', '')}"
        else:
            self.done += 1
            worst, size = trial.values
            feasible = all(v <= 0 for v in trial.constraints.values())
            if feasible:
                self.feasible += 1
                if self.smallest is None or size < self.smallest[0]:
                    self.smallest = (size, attrs["summary"])
            twin = f" (same as trial {attrs['duplicate_of']})" if "duplicate_of" in attrs else ""
            verdict = "[green]feasible[/green]" if feasible else "below floor or budget"
            outcome = f"worst val acc {worst:.4f} {verdict}{twin}"
        if attrs.get("screen_val_accuracies"):  # a near miss trained again with the full recipe
            outcome += (
                f" (promoted: {min(attrs['screen_val_accuracies']):.4f} after "
                f"{ctx.settings.training.epochs} epochs, then {attrs['epochs']} epochs)"
            )
        smallest = (
            f"{int(self.smallest[0]):,} {ctx.settings.strategy.size_objective} ({self.smallest[1]})"
            if self.smallest
            else "none yet"
        )
        elapsed = time.monotonic() - self.started
        focus = f", {self.out_of_focus} larger pruned untrained" if self.out_of_focus else ""
        self.note(
            f"[{self.done}/{self.total}] trial {trial.number} {attrs.get('summary', '')} "
            f"params={attrs.get('footprint', {}).get('params', 0):,}: {outcome} | "
            f"failed {self.failed}, feasible {self.feasible}, smallest feasible {smallest}"
            f"{focus} | {elapsed:.0f}s"
        )

    def stop(self) -> None:
        self.close()
        self.note(f"trials finished in {time.monotonic() - self.started:.0f}s")

    def close(self) -> None:
        """End the bar (it stays on screen with its last totals); nothing without one."""
        if self.live is not None:
            self.running.clear()
            self.live.stop()
            self.live = None

    def _bar(self) -> Group:
        """Three short lines, so that an 80-column terminal shows them whole."""
        now = time.monotonic()
        counts = Table.grid(padding=(0, 1))
        counts.add_row(
            Text(f"trials {self.done}/{self.total}", style="bold"),
            ProgressBar(total=max(1, self.total), completed=min(self.done, self.total), width=20),
            Text(
                f"running {len(self.running)}, failed {self.failed}, pruned {self.pruned}",
                no_wrap=True,
                overflow="ellipsis",
            ),
        )
        smallest = (
            f"{int(self.smallest[0]):,} {self.size_objective} ({self.smallest[1]})"
            if self.smallest
            else "none yet"
        )
        if self.done >= self.total:
            eta = "0:00:00"
        elif self.eta_at is None:
            eta = "after the first training"
        else:
            mean_s = sum(self.trained_s) / len(self.trained_s)
            eta = (
                f"{_clock(max(0.0, self.eta_at - now))} (mean trial {mean_s:.0f}s, "
                f"{self.workers} worker{'s' if self.workers > 1 else ''})"
            )
        return Group(
            counts,
            *(
                Text(line, no_wrap=True, overflow="ellipsis")
                for line in (
                    f"smallest feasible {smallest}",
                    f"elapsed {_clock(now - self.started)}, ETA {eta}",
                )
            ),
        )


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _on_terminal(console: Console) -> bool:
    """Whether the bar can redraw itself: the console writes to a terminal that is not dumb.
    Asked of the file itself, not rich's `is_terminal`: FORCE_COLOR (set by some CI) makes that
    true for a pipe, and a log must get plain lines, not redraws."""
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty()) and not console.is_dumb_terminal
