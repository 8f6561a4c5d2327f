"""Where slimtune ships: export a registered model to a device format and check it, design
templates, and training a template on new data. (Cluster stacks live in deploy/compose and
deploy/k8s.) Heavy modules load on first use."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "pull_model": "deploy._pull", "template_of": "deploy._pull", "ExportReport": "deploy._export",
    "FORMATS": "deploy._export", "tflite_bytes": "deploy._export",
    "DesignTemplate": "deploy._template", "TemplateError": "deploy._template",
    "config_from_model": "deploy._template", "train_template": "deploy._train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'deploy' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
