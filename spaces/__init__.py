"""What can be built and what it costs: the CNN search space, its points, their footprint, device
budgets and the training recipe. Imports nothing else of ours."""

from slimtune.spaces._config import HEADS, CNNConfig, ConfigError, ConvBlock
from slimtune.spaces._device import DeviceError, DeviceProfile, device_profiles, load_device
from slimtune.spaces._footprint import Footprint, footprint
from slimtune.spaces._hypermodel import (
    BuildFailed,
    HyperModelConfig,
    HyperModelError,
    HyperModelSpace,
    build_config,
    check_fits,
    config_from_dict,
    hyperparameters,
    is_hypermodel_config,
    load_build,
    resolve_hypermodel,
    search_space,
)
from slimtune.spaces._litert import (
    CALIBRATION_IMAGES,
    calibration_rows,
    litert_accuracy,
    litert_bytes,
    top1_accuracy,
)
from slimtune.spaces._model import MODEL_NAME_BATCH_NORM, build_model, deployed_model
from slimtune.spaces._native import quiet_native_stderr
from slimtune.spaces._presets import preset, presets
from slimtune.spaces._recipe import (
    AUGMENTATIONS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    Recipe,
    RecipeError,
)
from slimtune.spaces._space import DEFAULT_SPACE_PATH, SearchSpace, SpaceError, load_space
from slimtune.spaces._tflm import TflmError, tflm_accuracy, tflm_arena_bytes
from slimtune.spaces._toml import read_toml
from slimtune.spaces._walk import ModelFootprint, footprint_of_model

__all__ = [
    "CALIBRATION_IMAGES",
    "calibration_rows",
    "litert_accuracy",
    "litert_bytes",
    "top1_accuracy",
    "quiet_native_stderr",
    "CNNConfig",
    "ConfigError",
    "ConvBlock",
    "HEADS",
    "Footprint",
    "footprint",
    "build_model",
    "deployed_model",
    "MODEL_NAME_BATCH_NORM",
    "preset",
    "presets",
    "SearchSpace",
    "SpaceError",
    "load_space",
    "DEFAULT_SPACE_PATH",
    "DeviceProfile",
    "DeviceError",
    "device_profiles",
    "load_device",
    "Recipe",
    "RecipeError",
    "AUGMENTATIONS",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "read_toml",
    "HyperModelSpace",
    "HyperModelConfig",
    "HyperModelError",
    "BuildFailed",
    "build_config",
    "check_fits",
    "config_from_dict",
    "hyperparameters",
    "is_hypermodel_config",
    "load_build",
    "resolve_hypermodel",
    "search_space",
    "ModelFootprint",
    "footprint_of_model",
    "TflmError",
    "tflm_accuracy",
    "tflm_arena_bytes",
]
