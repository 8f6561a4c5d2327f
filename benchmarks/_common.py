"""Shared helpers of the benchmark scripts: data, configurations, machine description, output."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(REPO))
# The launchers of real servers and clusters (tests/support: PostgreSQL, MLflow, Ray) are test
# harness, not shipped; the benchmarks that start servers share them with the tests.
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))

# Named models of the throughput benchmark: the sizes the search lives on. "reference" is the
# compute-bound one: 2,066 params, ~9 s per epoch under plain model.fit on the development
# machine (its convolutions run at full 28x28 resolution).
NAMED_CONFIGS = {
    # c3x24|c3x8-p2|gap, 2,066 params, compute-bound (~9 s per epoch under plain fit here)
    "reference": {
        "blocks": [{"kernel_size": 3, "filters": 24}, {"kernel_size": 3, "filters": 8, "pool": 2}],
        "head": "gap",
    },
    "light": {"blocks": [{"kernel_size": 3, "filters": 4, "pool": 4}], "head": "flatten"},
    # c3x3-p2|c3x6v-p4|flatten, 748 params: held 0.973 worst case under the recipe
    # (benchmarks/recipe.py)
    "tiny": {
        "blocks": [
            {"kernel_size": 3, "filters": 3, "pool": 2},
            {"kernel_size": 3, "filters": 6, "pool": 4, "padding": "valid"},
        ],
        "head": "flatten",
    },
    # s3x8-p2|s3x12v-p4|flatten|bn: depthwise-separable blocks trained with BatchNorm
    "separable-bn": {
        "blocks": [
            {"kernel_size": 3, "filters": 8, "pool": 2, "separable": True},
            {"kernel_size": 3, "filters": 12, "pool": 4, "padding": "valid", "separable": True},
        ],
        "head": "flatten",
        "batch_norm": True,
    },
}


def data_dir() -> Path | None:
    value = os.environ.get("SLIMTUNE_DATA_DIR")
    return Path(value) if value else None


def load_config(text: str) -> Any:
    """A name of NAMED_CONFIGS, a preset name or a JSON configuration."""
    from slimtune.spaces import CNNConfig, preset

    if text in NAMED_CONFIGS:
        return CNNConfig.from_dict(NAMED_CONFIGS[text])
    if text.lstrip().startswith("{"):
        return CNNConfig.from_dict(json.loads(text))
    return preset(text)


def machine() -> dict[str, Any]:
    """Where and when a benchmark ran; printed and stored with every result."""
    load = os.getloadavg()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(load[0], 2),
        "command": " ".join(sys.argv),
    }


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Atomically write `payload` (a partial result survives an interrupted benchmark)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)
