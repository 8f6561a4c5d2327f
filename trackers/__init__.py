"""What we record: MLflow runs for studies, trials and confirmations, and the Model Registry."""
from trackers._mlflow import MlflowTracker

__all__ = ["MlflowTracker"]
