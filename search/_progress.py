"""Live progress of a search on stderr: one line per finished trial with running totals."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from search.study._focus import FOCUS_REASON

if TYPE_CHECKING:
    from search.study._context import StudyContext


class Progress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.total = self.done = self.failed = self.feasible = self.out_of_focus = 0
        self.smallest: tuple[float, str] | None = None
        self.started = time.monotonic()

    def note(self, message: str) -> None:
        self.console.print(message)

    def start(self, total: int, already_done: int) -> None:
        self.total, self.done = total, already_done
        self.started = time.monotonic()
        resumed = f" ({already_done} already finished, not retrained)" if already_done else ""
        self.note(f"search: {total} trials{resumed}")

    def trial_done(self, trial: FrozenTrial, ctx: StudyContext) -> None:
        attrs = trial.user_attrs
        if trial.state == TrialState.FAIL:
            self.failed += 1
            outcome = f"[red]failed[/red]: {attrs.get('fail_reason', '')[:120]}"
        elif trial.state == TrialState.PRUNED:
            self.done += 1
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
            outcome = (f"worst val acc {worst:.4f} {'[green]feasible[/green]' if feasible else 'below floor or budget'}"
                       f"{twin}")
        if attrs.get("screen_val_accuracies"):  # a near miss trained again with the full recipe
            outcome += (f" (promoted: {min(attrs['screen_val_accuracies']):.4f} after "
                        f"{ctx.settings.epochs} epochs, then {attrs['epochs']} epochs)")
        smallest = (f"{int(self.smallest[0]):,} {ctx.settings.size_objective} ({self.smallest[1]})"
                    if self.smallest else "none yet")
        elapsed = time.monotonic() - self.started
        focus = f", {self.out_of_focus} larger pruned untrained" if self.out_of_focus else ""
        self.note(f"[{self.done}/{self.total}] trial {trial.number} {attrs.get('summary', '')} "
                  f"params={attrs.get('footprint', {}).get('params', 0):,}: {outcome} | "
                  f"failed {self.failed}, feasible {self.feasible}, smallest feasible {smallest}"
                  f"{focus} | {elapsed:.0f}s")

    def stop(self) -> None:
        self.note(f"trials finished in {time.monotonic() - self.started:.0f}s")
