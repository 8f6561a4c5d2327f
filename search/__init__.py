"""How we look: settings, data, the Optuna study and its planner, trainings on Ray, Pareto
analysis, confirmation and the result.

Subpackages: `training` (trainer, racing, seeds), `study` (open, planner, focus, peers, records),
`execution` (executors, trial loop, interrupts), `analysis` (pareto, confirmation, result);
`_failpoints` is the driver's fail-point hook for crash tests. Heavy modules load on first use, so
`import slimtune.search.analysis.pareto` stays free of Optuna, Ray, MLflow and TensorFlow, and
the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimtune.trackers import lazy_face

if TYPE_CHECKING:  # the face, spelled out once; served lazily at run time (trackers/_lazy.py)
    from slimtune.search._data import DataSource as DataSource
    from slimtune.search._data import Split as Split
    from slimtune.search._data import class_count as class_count
    from slimtune.search._data import image_shape as image_shape
    from slimtune.search._data import resolve as resolve_dataset
    from slimtune.search._errors import StorageLost as StorageLost
    from slimtune.search._errors import UsageError as UsageError
    from slimtune.search._progress import Progress as Progress
    from slimtune.search._settings import SAMPLERS as SAMPLERS
    from slimtune.search._settings import SIZE_OBJECTIVES as SIZE_OBJECTIVES
    from slimtune.search._settings import HeldOut as HeldOut
    from slimtune.search._settings import ResolvedSettings as ResolvedSettings
    from slimtune.search._settings import SearchSettings as SearchSettings
    from slimtune.search._settings import SizedSettings as SizedSettings
    from slimtune.search._settings import setting_fields as setting_fields
    from slimtune.search.analysis import SearchResult as SearchResult
    from slimtune.search.analysis import SlicePoint as SlicePoint
    from slimtune.search.analysis import TrialPoint as TrialPoint
    from slimtune.search.analysis import feasible_candidates as feasible_candidates
    from slimtune.search.analysis import kernel_slicing_png as kernel_slicing_png
    from slimtune.search.analysis import load_finished_search as load_finished_search
    from slimtune.search.analysis import pareto_front as pareto_front
    from slimtune.search.analysis import report_html as report_html
    from slimtune.search.execution import InlineExecutor as InlineExecutor
    from slimtune.search.execution import RayExecutor as RayExecutor
    from slimtune.search.pipeline import ensure_writable as ensure_writable
    from slimtune.search.pipeline import run_search as run_search
    from slimtune.search.pipeline import run_study_in_process as run_study_in_process
    from slimtune.search.study import FOCUS_REASON as FOCUS_REASON
    from slimtune.search.study import FocusPlanner as FocusPlanner
    from slimtune.search.study import Planner as Planner
    from slimtune.search.study import base_sampler as base_sampler
    from slimtune.search.study import input_dataset as input_dataset
    from slimtune.search.study import input_example as input_example
    from slimtune.search.training import RULE_VERSION as RULE_VERSION
    from slimtune.search.training import SeedsOutcome as SeedsOutcome
    from slimtune.search.training import TrainingFailed as TrainingFailed
    from slimtune.search.training import check_seed_count as check_seed_count
    from slimtune.search.training import configure_threads as configure_threads
    from slimtune.search.training import confirmation_seeds as confirmation_seeds
    from slimtune.search.training import enable_onednn as enable_onednn
    from slimtune.search.training import required_accuracy as required_accuracy
    from slimtune.search.training import search_seeds as search_seeds
    from slimtune.search.training import stop_reason as stop_reason
    from slimtune.search.training import train_seeds as train_seeds

__getattr__, __all__ = lazy_face(__name__, __file__)
