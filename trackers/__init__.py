"""What we record: MLflow runs for studies, trials and confirmations, the Model Registry, the names
both writers and readers use, and state files written atomically. Imports nothing of ours."""

from slimtune.trackers._datasets import InputDataset
from slimtune.trackers._files import write_bytes_atomic, write_json_atomic
from slimtune.trackers._lazy import lazy_face
from slimtune.trackers._mlflow import MlflowTracker, TrackerUnavailable, using_tracking_uri
from slimtune.trackers._schema import (
    BUDGET_TAG_PREFIX,
    CHAMPION_ALIAS,
    DATASET_CONTEXTS,
    PULL_MEASURES,
    PULL_TAG_PREFIX,
    RECIPE_PARAMS,
    TAG_PREFIX,
    config_params,
    resolve_tracking_uri,
    seed_metrics,
)
from slimtune.trackers._uri import (
    TRACKING_SCHEMES,
    TrackingUriError,
    bound_http_retries,
    check_tracking_server,
    check_tracking_uri,
    credentials_refused,
    redact,
    server_reachable,
    server_serving,
)

__all__ = [
    "lazy_face",
    "MlflowTracker",
    "TrackerUnavailable",
    "credentials_refused",
    "server_reachable",
    "server_serving",
    "using_tracking_uri",
    "TRACKING_SCHEMES",
    "TrackingUriError",
    "bound_http_retries",
    "check_tracking_server",
    "check_tracking_uri",
    "redact",
    "write_bytes_atomic",
    "write_json_atomic",
    "CHAMPION_ALIAS",
    "RECIPE_PARAMS",
    "TAG_PREFIX",
    "config_params",
    "resolve_tracking_uri",
    "seed_metrics",
    "InputDataset",
    "DATASET_CONTEXTS",
    "PULL_TAG_PREFIX",
    "BUDGET_TAG_PREFIX",
    "PULL_MEASURES",
]
