"""Device profiles: what a target device lets a model cost (flash, RAM, optionally MACs).

A profile is a design template for a search: `slimtune search --device mcu-256k` turns it into the
budgets `--max-flash-bytes` (the int8 .tflite file's bytes), `--max-ram-bytes` (the TFLM arena's
bytes) and `--max-macs`. Its bytes are those for the model and its arena, not the whole device's:
a bundled microcontroller profile leaves a documented share of flash and RAM to the firmware (the
application, the TFLM interpreter and its kernels, the stack). Bundled profiles live in
spaces/devices/*.toml; a user profile is any TOML file with the same keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from slimtune.spaces._toml import read_toml

DEVICES_DIR = Path(__file__).with_name("devices")
_KEYS = {"name", "description", "flash_bytes", "ram_bytes", "macs"}


class DeviceError(ValueError):
    """A profile name or file is invalid; the message names the value and the fix."""


@dataclass(frozen=True)
class DeviceProfile:
    """Budgets for one model on one device. `macs` None means no compute budget."""

    name: str
    flash_bytes: int
    ram_bytes: int
    macs: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for key in ("name", "description"):
            if not isinstance(getattr(self, key), str):
                raise DeviceError(f"{key} = {getattr(self, key)!r}; expected text in quotes")
        for key in ("flash_bytes", "ram_bytes", "macs"):
            value = getattr(self, key)
            if value is None and key == "macs":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DeviceError(
                    f"device {self.name!r}: {key} = {value!r}; expected a whole number of 1 or more"
                )

    def budgets(self) -> dict[str, int]:
        """SearchSettings budget name -> limit."""
        limits = {
            "max_flash_bytes": self.flash_bytes,
            "max_ram_bytes": self.ram_bytes,
            "max_macs": self.macs,
        }
        return {name: limit for name, limit in limits.items() if limit is not None}

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "device profile") -> DeviceProfile:
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise DeviceError(f"{where}: unknown key {unknown[0]!r}; expected {sorted(_KEYS)}")
        missing = sorted({"name", "flash_bytes", "ram_bytes"} - set(data))
        if missing:
            raise DeviceError(
                f"{where}: missing key {missing[0]!r}; a profile needs name, "
                "flash_bytes and ram_bytes (macs is optional)"
            )
        try:
            return cls(
                name=data["name"],
                flash_bytes=data["flash_bytes"],
                ram_bytes=data["ram_bytes"],
                macs=data.get("macs"),
                description=data.get("description", ""),
            )
        except DeviceError as exc:
            raise DeviceError(f"{where}: {exc}") from None

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())


@cache
def device_profiles() -> dict[str, DeviceProfile]:
    """The bundled profiles by name."""
    return {
        profile.name: profile
        for profile in (_read(path) for path in sorted(DEVICES_DIR.glob("*.toml")))
    }


def load_device(name_or_path: str | Path) -> DeviceProfile:
    """A bundled profile by name, or a profile TOML file. Raises DeviceError naming the fix."""
    text = str(name_or_path)
    if text in device_profiles():
        return device_profiles()[text]
    path = Path(text)
    if not path.is_file():
        raise DeviceError(
            f"unknown device {text!r}; use one of {sorted(device_profiles())} or "
            "the path of a profile TOML (keys name, flash_bytes, ram_bytes, macs)"
        )
    return _read(path)


def _read(path: Path) -> DeviceProfile:
    data = read_toml(
        path,
        DeviceError,
        f"device profile {path}",
        "pass a readable profile TOML or a bundled profile name",
    )
    return DeviceProfile.from_dict(data, where=f"device profile {path}")
