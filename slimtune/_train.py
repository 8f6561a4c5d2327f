"""Train a design template on a dataset with several seeds and record it in MLflow like a search
trial: one parent run for the invocation, one child run with the configuration as params, per-seed
and worst-case validation accuracy, footprint and the median-seed model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slimtune.deploy import DesignTemplate
from slimtune.search import (
    DataSource,
    UsageError,
    class_count,
    image_shape,
    input_dataset,
    input_example,
    train_seeds,
)
from slimtune.spaces import footprint
from slimtune.trackers import config_params, redact, seed_metrics


@dataclass(frozen=True)
class TrainResult:
    """Written to <out>/train.json; `model_uri` is what `slimtune pull` takes."""

    template: str
    dataset: str
    footprint: dict[str, int]
    seeds: list[int]
    val_accuracies: list[float]
    worst_case_val_accuracy: float
    train_time_s: float
    tracking_uri: str
    experiment: str
    parent_run_id: str
    run_id: str
    model_uri: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_template(
    template: DesignTemplate,
    source: DataSource,
    seeds: list[int],
    tracking_uri: str,
    experiment: str,
    out: Path,
    val_size: int = 5000,
    train_subset: int | None = None,
    threads: int = 1,
) -> TrainResult:
    """Train `template` once per seed; UsageError if it does not fit the data (TrainingFailed if
    a seed's loss diverges)."""
    from slimtune.trackers import MlflowTracker

    train, val = source.train_val(val_size, train_subset)
    input_shape, num_classes = image_shape(train), class_count(train, val)
    try:
        fp = footprint(template.config, input_shape, num_classes)
    except ValueError as exc:
        raise UsageError(
            f"--template {template.name}: {exc} of {input_shape}; use 'same' "
            "padding or smaller kernels for this dataset"
        ) from None
    outcome = train_seeds(template.config, train, val, template.recipe, seeds, threads=threads)
    artifacts = (out / "mlartifacts").as_uri() if tracking_uri.startswith("sqlite") else None
    tracker = MlflowTracker(tracking_uri, experiment, artifact_location=artifacts)
    parent_id = tracker.start_parent(
        f"train-{template.name}",
        {
            "dataset": source.name,
            "train_subset": train_subset,
            "val_size": val_size,
            "seeds": len(seeds),
            "template_source": template.source,
            **template.recipe.to_dict(),
        },
        {"study": experiment, "template": template.name},
        datasets=[
            input_dataset(source, "training", train),
            input_dataset(source, "validation", val),
        ],
        input_example=input_example(train),
    )
    metrics = fp.to_dict() | seed_metrics("val", outcome.seeds, outcome.val_accuracies)
    metrics |= {
        "worst_case_val_accuracy": outcome.worst_case_val_accuracy,
        "train_time_s": outcome.train_time_s,
    }
    run_id = tracker.log_trial(
        0,
        f"template-{template.name}",
        config_params(template.config.to_dict()),
        metrics,
        {
            "study": experiment,
            "state": "COMPLETE",
            "summary": template.name,
            "template_source": template.source,
            "node": outcome.node,
        },
        "FINISHED",
        outcome.model_keras,
    )
    tracker.end_parent("FINISHED")
    return TrainResult(
        template=template.name,
        dataset=source.name,
        footprint=fp.to_dict(),
        seeds=outcome.seeds,
        val_accuracies=outcome.val_accuracies,
        worst_case_val_accuracy=outcome.worst_case_val_accuracy,
        train_time_s=round(outcome.train_time_s, 3),
        tracking_uri=redact(tracking_uri),
        experiment=experiment,
        parent_run_id=parent_id,
        run_id=run_id,
        model_uri=f"runs:/{run_id}/model",
    )
