"""Where slimtune runs and ships: export a registered model to a device format and check it,
design templates, the registry look-ups behind them, and whole searches as Ray Jobs. (Cluster
stacks live in deploy/compose, deploy/k8s and deploy/Dockerfile.) Imports spaces and trackers,
never search: `pull_model` receives arrays, not a data loader. Heavy modules load on first use."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DeployError": "deploy._errors", "ExportBelowFloor": "deploy._errors",
    "pull_model": "deploy._pull", "locate_pull": "deploy._pull",
    "calibration_rows": "deploy._pull", "template_of": "deploy._pull",
    "ExportReport": "deploy._export", "FORMATS": "deploy._export", "tflite_bytes": "deploy._export",
    "DesignTemplate": "deploy._template", "TemplateError": "deploy._template",
    "config_from_model": "deploy._template", "save_template": "deploy._template",
    "tracking_uri_of": "deploy._registry", "record_pull": "deploy._registry",
    "submit_job": "deploy._jobs", "job_status": "deploy._jobs", "job_logs": "deploy._jobs",
    "follow_job_logs": "deploy._jobs",
}
_ALIASES = {"submit_job": "submit", "job_status": "status", "job_logs": "logs",
            "follow_job_logs": "follow_logs"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deploy' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), _ALIASES.get(name, name))
