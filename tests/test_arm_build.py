"""The Cortex-M4 build: real arm-none-eabi-gcc, -Wall -Wextra -Werror, section sizes."""

from __future__ import annotations

import pytest

from firmware_export.errors import ExportError
from firmware_export.firmware import build_firmware, parse_size_output
from firmware_export.firmware.build import CFLAGS
from tests.support import require_tool

pytestmark = pytest.mark.armgcc

_SIZE_A = """\
sensor.elf  :
section            size        addr
.text              9000           0
.rodata            1200        9000
.ARM.exidx            8       10200
.data                16   536870912
.bss               5000   536870928
.stack            16384   536875928
.debug_info        3406           0
.comment             38           0
.ARM.attributes      50           0
Total             35102
"""


def test_sizes_parse_classifies_sections():
    sizes = parse_size_output(_SIZE_A)
    assert (sizes.text, sizes.rodata, sizes.data, sizes.bss) == (9000, 1208, 16, 5000)
    assert sizes.stack_reserved == 16384
    assert sizes.flash == 9000 + 1208 + 16
    assert sizes.ram(stack_used=1000) == 16 + 5000 + 1000


def test_sizes_parse_rejects_unknown_allocated_section():
    with pytest.raises(ExportError, match=r"\.ccmram"):
        parse_size_output(_SIZE_A + ".ccmram  64  268435456\n")


def test_sizes_parse_rejects_non_image():
    with pytest.raises(ExportError, match=r"no \.text"):
        parse_size_output("nothing here\n")


def test_arm_build_selftest_links_with_warnings_as_errors(tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    result = build_firmware(None, tmp_path, target="selftest")
    assert result.elf == tmp_path / "selftest.elf" and result.elf.is_file()
    assert result.map_file.is_file()
    assert {"-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"} <= set(
        result.command
    )
    assert "-mfloat-abi=hard" in CFLAGS
    # The board alone is small: vector table, UART, timers, semihosting, memcpy/memset.
    assert 0 < result.sizes.flash < 4096
    assert result.sizes.stack_reserved == 0x4000
    # The image starts with the vector table: initial SP at the top of the stack, then
    # the reset handler (odd address: Thumb).
    data = result.elf.read_bytes()
    assert data[:4] == b"\x7fELF"


def test_arm_build_warning_fails_the_build_and_writes_nothing(tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    warn = tmp_path / "warn.h"
    warn.write_text("static int tinypdm_never_used(void) { return 1; }\n")
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=r"failed for 'selftest'.*unused-function"):
        build_firmware(None, out, target="selftest", extra_cflags=("-include", str(warn)))
    assert list(out.iterdir()) == []


def test_arm_build_without_model_sources_raises(tmp_path):
    with pytest.raises(ExportError, match=r"tinypdm_model_config\.h"):
        build_firmware(tmp_path, tmp_path / "out", target="sensor")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"target": "bootloader"}, "target must be one of", id="unknown-target"),
        pytest.param({"target": "selftest", "stack_size": 100}, "stack_size", id="tiny-stack"),
        pytest.param({"target": "selftest", "stack_size": 1001}, "multiple of 8", id="odd-stack"),
    ],
)
def test_arm_build_bad_arguments_raise_value_error(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_firmware(None, tmp_path, **kwargs)


@pytest.mark.parametrize("sub", ["", "c", "firmware", "src"], ids=["flat", "c", "firmware", "src"])
def test_arm_build_finds_generated_sources_in_a_bundle(tmp_path, sub):
    from firmware_export.firmware import find_model_sources

    where = tmp_path / sub if sub else tmp_path
    where.mkdir(exist_ok=True)
    (where / "tinypdm_model_config.h").write_text("/* generated */\n")
    (where / "model_data.c").write_text("/* generated */\n")
    assert find_model_sources(tmp_path) == where


def test_arm_build_missing_directory_raises(tmp_path):
    with pytest.raises(ExportError, match="is not a directory"):
        build_firmware(tmp_path / "nope", tmp_path / "out", target="pipeline")


def test_arm_build_stack_reservation_follows_the_argument(tmp_path):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    result = build_firmware(None, tmp_path, target="selftest", stack_size=4096)
    assert result.sizes.stack_reserved == 4096


def test_firmware_package_exports_its_public_names():
    import firmware_export.firmware as fw

    public = {name for name in vars(fw) if not name.startswith("_")}
    modules = {"build", "firmware_sensor", "measure", "qemu", "session", "sizes", "annotations"}
    assert set(fw.__all__) == public - modules
    assert {"build_firmware", "QemuSensor", "run_sensor_firmware", "run_firmware_sensor"} <= set(
        fw.__all__
    )
