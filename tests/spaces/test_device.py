from __future__ import annotations

import pytest

from slimtune.search._errors import UsageError
from slimtune.search._settings import SearchSettings
from slimtune.spaces import DeviceError, DeviceProfile, device_profiles, load_device


def test_bundled_profiles_cover_two_microcontrollers_and_a_phone():
    """A microcontroller profile's bytes are the model's and its arena's: the documented share
    of the device's flash and RAM is left to the firmware."""
    profiles = device_profiles()
    assert {"mcu-256k", "mcu-1m", "phone"} <= set(profiles)
    mcu = profiles["mcu-256k"]
    assert (mcu.flash_bytes, mcu.ram_bytes) == (192 * 1024, 48 * 1024) and mcu.macs
    assert (profiles["mcu-1m"].flash_bytes, profiles["mcu-1m"].ram_bytes) == (
        896 * 1024,
        224 * 1024,
    )
    assert "for the model and its arena" in mcu.description
    assert profiles["phone"].macs is None


def test_profile_round_trips_through_toml(tmp_path):
    profile = DeviceProfile(
        name="sensor", flash_bytes=4096, ram_bytes=2048, macs=50_000, description="a tiny sensor"
    )
    path = tmp_path / "sensor.toml"
    path.write_text(profile.to_toml())
    assert load_device(str(path)) == profile
    assert DeviceProfile.from_dict(profile.to_dict()) == profile


@pytest.mark.parametrize(
    "text, match",
    [
        ('name = "x"\nflash_bytes = 10\nram_bytes = 10\nflash = 3\n', "unknown key 'flash'"),
        ('name = "x"\nram_bytes = 10\n', "missing key 'flash_bytes'"),
        ('name = "x"\nflash_bytes = 0\nram_bytes = 10\n', "flash_bytes = 0"),
        ('name = "x"\nflash_bytes = "1MB"\nram_bytes = 10\n', "flash_bytes = '1MB'"),
        ('name = "x"\nflash_bytes = 10\nram_bytes = 10\nmacs = 1.5\n', "macs = 1.5"),
        ("name = \n", "not valid TOML"),
        (
            "name = 3\nflash_bytes = 10\nram_bytes = 10\n",
            r"bad.toml: name = 3; expected text in quotes",
        ),
    ],
)
def test_bad_profiles_name_the_key_and_the_fix(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DeviceError, match=match):
        load_device(str(path))


def test_unknown_device_lists_the_bundled_ones():
    with pytest.raises(DeviceError, match=r"unknown device 'toaster'; use one of \['mcu-1m'"):
        load_device("toaster")


def test_device_sets_the_search_budgets_and_explicit_flags_win():
    settings = SearchSettings.of(device="mcu-256k")
    assert settings.budgets.limits() == {
        "max_flash_bytes": ("tflite_file_bytes", 196608),
        "max_ram_bytes": ("tflm_arena_bytes", 49152),
        "max_macs": ("macs", 2_000_000),
    }
    settings = SearchSettings.of(device="mcu-256k", max_flash_bytes=1000, max_params=50)
    assert settings.budgets.limits()["max_flash_bytes"] == ("tflite_file_bytes", 1000)
    assert settings.budgets.limits()["max_params"] == ("params", 50)
    assert settings.resolved().budgets.limits() == settings.budgets.limits()
    assert "max_macs" not in SearchSettings.of(device="phone").budgets.limits()


def test_bad_device_is_a_usage_error():
    with pytest.raises(UsageError, match="--device toaster: unknown device"):
        SearchSettings.of(device="toaster")
    with pytest.raises(UsageError, match="--max-macs 0"):
        SearchSettings.of(max_macs=0)
