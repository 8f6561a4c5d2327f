"""After the trials: the Pareto analysis (pure numpy: `slimtune.search.analysis.pareto` imports no
TensorFlow, Ray, MLflow or Optuna), confirmation on the test split, the result contract, the
trials table, and the figures and HTML report drawn from those two (matplotlib, plotly)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimtune.trackers import lazy_face

if TYPE_CHECKING:  # the face, spelled out once; served lazily at run time (trackers/_lazy.py)
    from slimtune.search.analysis._confirm import (
        CONFIRMATION_ATTR_PREFIX as CONFIRMATION_ATTR_PREFIX,
    )
    from slimtune.search.analysis._confirm import confirm_candidates as confirm_candidates
    from slimtune.search.analysis._plots import FIGURES as FIGURES
    from slimtune.search.analysis._plots import SlicePoint as SlicePoint
    from slimtune.search.analysis._plots import kernel_slicing_png as kernel_slicing_png
    from slimtune.search.analysis._plots import write_figures as write_figures
    from slimtune.search.analysis._report import load_finished_search as load_finished_search
    from slimtune.search.analysis._report import report_html as report_html
    from slimtune.search.analysis._result import Chosen as Chosen
    from slimtune.search.analysis._result import Confirmation as Confirmation
    from slimtune.search.analysis._result import FrontPoint as FrontPoint
    from slimtune.search.analysis._result import SearchResult as SearchResult
    from slimtune.search.analysis._result import StudyInfo as StudyInfo
    from slimtune.search.analysis._trials import TRIALS_CSV as TRIALS_CSV
    from slimtune.search.analysis._trials import TrialRow as TrialRow
    from slimtune.search.analysis._trials import read_trials_csv as read_trials_csv
    from slimtune.search.analysis._trials import trials_csv as trials_csv
    from slimtune.search.analysis.pareto import TrialPoint as TrialPoint
    from slimtune.search.analysis.pareto import best_per_size_band as best_per_size_band
    from slimtune.search.analysis.pareto import best_worst_case as best_worst_case
    from slimtune.search.analysis.pareto import feasible_candidates as feasible_candidates
    from slimtune.search.analysis.pareto import pareto_front as pareto_front

__getattr__, __all__ = lazy_face(__name__, __file__)
