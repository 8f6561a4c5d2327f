"""A simulated cluster behind the executor protocol (search/execution/_protocol.py): W workers
whose trainings take no real time, on a discrete-event clock, so the real driver can be measured
against a thousand workers without a thousand processes.

The clock is virtual but the driver's own time is real: every moment the driver spends between
two calls into the cluster (planning, storage, MLflow, its loop) is added to the virtual clock, as
it would pass on a real cluster, while waiting for a training costs nothing (the clock jumps to
the next completion). A worker is busy from its training's submission to its completion; the
utilisation that the driver leaves the workers is then read off the clock (`utilisation`).

A training's outcome is a deterministic synthetic `SeedsOutcome`: each seed's validation accuracy
is a smooth function of the configuration's parameter count plus seeded noise (the same
configuration and seed always give the same accuracy), so a strategy has a front to find. Its
duration is drawn from a log-normal distribution around `trial_s` (a few trials take 2-3 times
the median, as real trainings of different sizes do). Racing (`required_accuracy`), promotion to
the full recipe and confirmations are answered as the trainer would: a trial that cannot reach
its threshold stops after its first seed; a near miss trains again with the full recipe; a
confirmation's held-out accuracies fall short of the recheck floor (no model file is read, so the
search ends without a registered model, having run the whole end of the pipeline up to it).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

ACCURACY_CEILING = 0.99  # what the largest configurations reach
ACCURACY_FLOOR = 0.10  # chance on 10 classes
SCALE_PARAMS = 900.0  # parameter count at which the gap to the ceiling has shrunk by 1/e
SEED_NOISE = 0.004  # standard deviation of a seed's accuracy around the curve
DURATION_SIGMA = 0.4  # log-normal spread of a training's duration around its median


def accuracy(params: int, summary: str, seed: int, epochs_factor: float = 1.0) -> float:
    """A seed's validation accuracy: a smooth curve in the parameter count, plus noise that
    depends only on (configuration, seed); more epochs close part of the gap."""
    gap = (ACCURACY_CEILING - ACCURACY_FLOOR) * math.exp(-((params / SCALE_PARAMS) ** 0.6))
    gap /= epochs_factor**0.5
    digest = hashlib.blake2b(f"{summary}/{seed}".encode(), digest_size=8).digest()
    noise = random.Random(int.from_bytes(digest, "big")).gauss(0.0, SEED_NOISE)
    return round(min(1.0, max(0.0, ACCURACY_CEILING - gap + noise)), 4)


@dataclass(order=True)
class _Training:
    finish_at: float
    handle: int
    started_at: float = field(compare=False)
    outcome: Any = field(compare=False)
    kind: str = field(compare=False, default="trial")


class SimulatedCluster:
    """`workers` simulated workers; `trial_s` the median duration of a search trial's training
    (virtual seconds). `params_of(config)` gives a configuration's parameter count."""

    def __init__(
        self,
        workers: int,
        trial_s: float,
        params_of: Any,
        seed: int = 0,
        held_out_miss: float = 0.2,
    ) -> None:
        self.workers = workers
        self.trial_s = trial_s
        self.params_of = params_of
        self.held_out_miss = held_out_miss
        self.now_s = 0.0  # the virtual clock
        self.busy_s = 0.0  # worker-seconds of finished trainings
        self.finished = 0
        self._rng = random.Random(seed)
        self._running: dict[int, _Training] = {}
        self._heap: list[_Training] = []
        self._next = 0
        self._real_mark = time.perf_counter()
        self.on_completion: Any = None  # called with the cluster as each trial's is read
        self.simulator_s = 0.0  # real seconds spent in this class (not the driver's)

    def __enter__(self) -> SimulatedCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running.clear()

    # --- the driver's time ------------------------------------------------------------------
    def _enter(self) -> None:
        """The driver worked since it last left the cluster: that much real time passes."""
        now = time.perf_counter()
        self.now_s += now - self._real_mark
        self._real_mark = now

    def _leave(self) -> None:
        now = time.perf_counter()
        self.simulator_s += now - self._real_mark
        self._real_mark = now

    # --- the executor protocol ----------------------------------------------------------------
    def put(self, value: Any) -> Any:
        return value

    def submit(self, request: Any, train: Any, val: Any, held_out: Any = None) -> int:
        self._enter()
        try:
            outcome, factor = self._outcome(request)
            duration = self.trial_s * factor * math.exp(self._rng.gauss(0.0, DURATION_SIGMA))
            outcome.train_time_s = duration
            handle = self._next
            self._next += 1
            training = _Training(self.now_s + duration, handle, self.now_s, outcome, request.kind)
            self._running[handle] = training
            heapq.heappush(self._heap, training)
            return handle
        finally:
            self._leave()

    def wait(self, handles: list[int], timeout_s: float) -> list[int]:
        """The earliest completion among `handles`, one at a time (so each of the loop's
        iterations handles one trial); the clock jumps to it if it lies ahead."""
        self._enter()
        try:
            wanted = set(handles)
            first = min((self._running[h] for h in wanted if h in self._running), default=None)
            if first is None:
                return []
            self.now_s = max(self.now_s, first.finish_at)
            return [first.handle]
        finally:
            self._leave()

    def result(self, handle: int) -> Any:
        self._enter()
        try:
            training = self._running.pop(handle)
            self.now_s = max(self.now_s, training.finish_at)
            self.busy_s += training.finish_at - training.started_at
            self.finished += 1
            if self.on_completion is not None and training.kind == "trial":
                self.on_completion(self)
            return training.outcome
        finally:
            self._leave()

    def cancel(self, handle: int) -> None:
        training = self._running.pop(handle, None)
        if training is not None:
            self.busy_s += max(0.0, self.now_s - training.started_at)

    # --- what the workers report ----------------------------------------------------------------
    def utilisation(self) -> float:
        """Worker-seconds of training over worker-seconds available since the first submission."""
        return self.busy_s / (self.workers * self.now_s) if self.now_s else 0.0

    def _outcome(self, request: Any) -> tuple[Any, float]:
        """(the synthetic SeedsOutcome of `request`, its duration relative to a search trial)."""
        from slimtune.search import SeedsOutcome

        config = request.config
        summary = config.summary()
        params = self.params_of(config)
        epochs = request.recipe.epochs
        seeds = list(request.seeds)
        if request.kind == "confirm":
            factor = 3.0  # the full recipe: confirmation trains longer
            val = [accuracy(params, summary, s, factor) for s in seeds]
            held_out = [round(v - self.held_out_miss, 4) for v in val]  # misses the recheck floor
            outcome = SeedsOutcome(
                seeds,
                val,
                held_out,
                0.0,
                seeds[len(seeds) // 2],
                node="simulated",
                epochs_run=epochs * len(seeds),
                epochs=epochs,
                seed_models=[b"simulated"] * len(seeds),
                int8_test_accuracies=held_out if request.int8_calibration is not None else None,
                seed_int8=[b"simulated"] * len(seeds)
                if request.int8_calibration is not None
                else [],
            )
            return outcome, factor * len(seeds) / max(1, len(seeds))
        val = [accuracy(params, summary, s) for s in seeds]
        curves = [[v] for v in val]
        required = request.required_accuracy
        if (
            required is not None
            and val[0] < required
            and (request.promotion is None or val[0] < request.promotion.near_miss_accuracy)
        ):
            # Racing: the first seed cannot reach the threshold, the others never start.
            return SeedsOutcome(
                seeds[:1],
                val[:1],
                None,
                0.0,
                seeds[0],
                node="simulated",
                val_curves=curves[:1],
                stopped_reason=f"seed {seeds[0]} below {required:.4f}",
                epochs_run=epochs,
                epochs=epochs,
            ), 1.0 / len(seeds)
        factor, screen = 1.0, []
        if required is not None and request.promotion is not None and min(val) < required:
            # A near miss: trained again with the full recipe.
            full = request.promotion.recipe.epochs
            factor = 1.0 + full / max(1, epochs)
            screen, epochs = val, full
            val = [
                accuracy(params, summary, s, full / max(1, request.recipe.epochs)) for s in seeds
            ]
        median = sorted(range(len(val)), key=lambda i: val[i])[(len(val) - 1) // 2]
        outcome = SeedsOutcome(
            seeds,
            val,
            None,
            0.0,
            seeds[median],
            model_keras=None,
            node="simulated",
            val_curves=curves,
            epochs_run=epochs * len(seeds),
            epochs=epochs,
            screen_val_accuracies=screen,
        )
        return outcome, factor
