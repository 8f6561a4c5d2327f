"""Where slimtune runs and ships: export a registered model to a device format and check it,
design templates, the registry look-ups behind them, and whole searches as Ray Jobs. (Cluster
stacks live in deploy/compose, deploy/k8s and deploy/Dockerfile.) Imports spaces and trackers,
never search: `pull_model` receives arrays, not a data loader. Its modules load TensorFlow,
MLflow and Ray only inside the functions that need them."""

from slimtune.deploy._errors import DeployError, ExportBelowFloor
from slimtune.deploy._export import FORMATS, ExportReport, tflite_bytes
from slimtune.deploy._jobs import follow_logs as follow_job_logs
from slimtune.deploy._jobs import logs as job_logs
from slimtune.deploy._jobs import status as job_status
from slimtune.deploy._jobs import submit as submit_job
from slimtune.deploy._pull import calibration_rows, locate_pull, pull_model, template_of
from slimtune.deploy._registry import record_pull, tracking_uri_of
from slimtune.deploy._template import (
    DesignTemplate,
    TemplateError,
    config_from_model,
    save_template,
)

__all__ = [
    "DeployError",
    "ExportBelowFloor",
    "FORMATS",
    "ExportReport",
    "tflite_bytes",
    "follow_job_logs",
    "job_logs",
    "job_status",
    "submit_job",
    "calibration_rows",
    "locate_pull",
    "pull_model",
    "template_of",
    "record_pull",
    "tracking_uri_of",
    "DesignTemplate",
    "TemplateError",
    "config_from_model",
    "save_template",
]
