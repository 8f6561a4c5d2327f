"""The datasets a run read, as MLflow lists them under the run's inputs: name, content digest,
where they were read, and the shapes of their images and labels. Built once per search from the
splits' shapes and digests (no pixels are kept or hashed here) and logged with every run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from slimtune.trackers._schema import DATASET_CONTEXTS

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

# MLflow stores a dataset digest in a 36-character column.
MAX_DIGEST_CHARS = 36


@dataclass(frozen=True)
class InputDataset:
    """One split a run read. `context` is one of DATASET_CONTEXTS; `source` is the file it was
    read from; the shapes are (rows, ...) of the images and the labels as stored."""

    context: str
    name: str
    digest: str
    source: str
    features_shape: tuple[int, ...]
    targets_shape: tuple[int, ...]
    features_dtype: str = "uint8"
    targets_dtype: str = "int32"

    def __post_init__(self) -> None:
        if self.context not in DATASET_CONTEXTS:
            raise ValueError(
                f"dataset context {self.context!r}: use one of {', '.join(DATASET_CONTEXTS)}"
            )
        if not 0 < len(self.digest) <= MAX_DIGEST_CHARS:
            raise ValueError(
                f"dataset digest {self.digest!r}: MLflow takes 1 to {MAX_DIGEST_CHARS} characters"
            )

    @property
    def rows(self) -> int:
        return self.features_shape[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a confirmation record keeps the held-out splits it read this way)."""
        return asdict(self) | {
            "features_shape": list(self.features_shape),
            "targets_shape": list(self.targets_shape),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputDataset:
        return cls(
            **data
            | {
                "features_shape": tuple(data["features_shape"]),
                "targets_shape": tuple(data["targets_shape"]),
            }
        )

    def to_mlflow(self) -> DatasetInput:
        """The MLflow entity, in the layout of `mlflow.data.from_numpy` (tensor schema, shape
        profile), so the UI shows it as a numpy dataset, with this dataset's own digest."""
        import numpy as np
        from mlflow.data.schema import TensorDatasetSchema
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.types.schema import Schema, TensorSpec
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        def spec(dtype: str, shape: tuple[int, ...]) -> Schema:
            return Schema([TensorSpec(np.dtype(dtype), (-1, *shape[1:]))])

        schema = TensorDatasetSchema(
            spec(self.features_dtype, self.features_shape),
            spec(self.targets_dtype, self.targets_shape),
        )
        profile = {
            "features_shape": list(self.features_shape),
            "features_size": int(np.prod(self.features_shape)),
            "targets_shape": list(self.targets_shape),
            "targets_size": int(np.prod(self.targets_shape)),
        }
        dataset = Dataset(
            name=self.name,
            digest=self.digest,
            source_type="local",
            source=json.dumps({"uri": self.source}),
            schema=json.dumps(schema.to_dict()),
            profile=json.dumps(profile),
        )
        return DatasetInput(dataset, [InputTag(MLFLOW_DATASET_CONTEXT, self.context)])
