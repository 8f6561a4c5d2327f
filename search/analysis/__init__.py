"""After the trials: the Pareto analysis (pure numpy: `search.analysis.pareto` imports no
TensorFlow, Ray, MLflow or Optuna), confirmation on the test split, the result contract, the
trials table, and the figures and HTML report drawn from those two (matplotlib, plotly)."""
from __future__ import annotations

from search._lazy import lazy_getattr

_EXPORTS = {
    "TrialPoint": "search.analysis.pareto", "pareto_front": "search.analysis.pareto",
    "feasible_candidates": "search.analysis.pareto", "best_worst_case": "search.analysis.pareto",
    "confirm_candidates": "search.analysis._confirm",
    "CONFIRMATION_ATTR_PREFIX": "search.analysis._confirm",
    "SearchResult": "search.analysis._result", "Chosen": "search.analysis._result",
    "Confirmation": "search.analysis._result", "FrontPoint": "search.analysis._result",
    "StudyInfo": "search.analysis._result",
    "TrialRow": "search.analysis._trials", "TRIALS_CSV": "search.analysis._trials",
    "trials_csv": "search.analysis._trials", "read_trials_csv": "search.analysis._trials",
    "write_figures": "search.analysis._plots", "FIGURES": "search.analysis._plots",
    "SlicePoint": "search.analysis._plots", "kernel_slicing_png": "search.analysis._plots",
    "report_html": "search.analysis._report", "load_finished_search": "search.analysis._report",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr('search.analysis', _EXPORTS)
