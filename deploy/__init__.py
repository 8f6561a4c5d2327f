"""Where slimtune runs and ships: export a registered model to a device format and check it,
design templates, the registry look-ups behind them, and whole searches as Ray Jobs. (Cluster
stacks live in deploy/compose, deploy/k8s and deploy/Dockerfile.) Imports spaces and trackers,
never search: `pull_model` receives arrays, not a data loader. Each name loads its module on
first use, so the CLI's start (it reads `ExportBelowFloor`) loads no numpy, MLflow or Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimtune.trackers import lazy_face

if TYPE_CHECKING:  # the face, spelled out once; served lazily at run time (trackers/_lazy.py)
    from slimtune.deploy._errors import DeployError as DeployError
    from slimtune.deploy._errors import ExportBelowFloor as ExportBelowFloor
    from slimtune.deploy._export import FORMATS as FORMATS
    from slimtune.deploy._export import ExportReport as ExportReport
    from slimtune.deploy._export import tflite_bytes as tflite_bytes
    from slimtune.deploy._jobs import follow_logs as follow_job_logs
    from slimtune.deploy._jobs import logs as job_logs
    from slimtune.deploy._jobs import status as job_status
    from slimtune.deploy._jobs import submit as submit_job
    from slimtune.deploy._pull import calibration_rows as calibration_rows
    from slimtune.deploy._pull import locate_pull as locate_pull
    from slimtune.deploy._pull import pull_model as pull_model
    from slimtune.deploy._pull import template_of as template_of
    from slimtune.deploy._registry import record_pull as record_pull
    from slimtune.deploy._registry import tracking_uri_of as tracking_uri_of
    from slimtune.deploy._template import DesignTemplate as DesignTemplate
    from slimtune.deploy._template import TemplateError as TemplateError
    from slimtune.deploy._template import config_from_model as config_from_model
    from slimtune.deploy._template import save_template as save_template

__getattr__, __all__ = lazy_face(__name__, __file__)
