"""What can be built: the CNN search space, its points and their footprint."""
from spaces._config import CNNConfig, ConvBlock
from spaces._device import DeviceError, DeviceProfile, device_profiles, load_device
from spaces._footprint import Footprint, footprint
from spaces._model import build_model
from spaces._presets import preset, presets
from spaces._space import DEFAULT_SPACE_PATH, SearchSpace, SpaceError, load_space

__all__ = ["CNNConfig", "ConvBlock", "Footprint", "footprint", "build_model", "preset", "presets",
           "SearchSpace", "SpaceError", "load_space", "DEFAULT_SPACE_PATH",
           "DeviceProfile", "DeviceError", "device_profiles", "load_device"]
