"""--strategy smallest (the default): search for the smallest configuration that holds the floor.

The study keeps both objectives (worst-case validation accuracy, size), so the Pareto front and
picks at other floors stay readable from it; only the sampler sees it differently. `SizeSampler`
shows its base sampler (TPE) the study as a single-objective one through `SizeView`: minimise the
size objective, subject to the constraints every trial carries (the accuracy floor with its
validation margin, each budget). TPE puts feasible trials before infeasible ones and sorts each by
size or by how far they miss, so its "good" group is exactly the smallest feasible trials (before
any is feasible: the trials closest to the floor), and it proposes configurations like them.
"""

from __future__ import annotations

from typing import Any

import optuna

from slimtune.search.study._optuna_private import SizeView
from slimtune.search.study._wrapping import WrappingSampler


class SizeSampler(WrappingSampler):
    """`base`, seeing the study through `SizeView`."""

    def view(self, study: optuna.Study) -> Any:
        return SizeView(study)
