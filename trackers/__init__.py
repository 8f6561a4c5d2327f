"""What we record: MLflow runs for studies, trials and confirmations, and the Model Registry."""
from trackers._mlflow import (MlflowTracker, TrackerUnavailable, server_reachable,
                              using_tracking_uri)

__all__ = ["MlflowTracker", "TrackerUnavailable", "server_reachable", "using_tracking_uri"]
