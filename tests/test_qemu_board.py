"""The board support under QEMU: UART both ways, exit status, the instruction counter."""

from __future__ import annotations

import re

import pytest

from firmware_export.errors import ExportError
from firmware_export.firmware import QemuSensor, build_firmware
from tests.support import require_tool

pytestmark = [pytest.mark.qemu, pytest.mark.armgcc]

_LINE = re.compile(rb"bsp loop=(\d+) empty=(\d+) n=(\d+) stack=(\d+)\n")
INSNS_PER_TICK = 40  # 1 ns per instruction (-icount shift=0) / 25 MHz SysTick


@pytest.fixture(scope="module")
def selftest_elf(tmp_path_factory):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    return build_firmware(None, tmp_path_factory.mktemp("fw"), target="selftest").elf


def test_qemu_selftest_counts_instructions_of_a_calibrated_loop(selftest_elf):
    with QemuSensor(selftest_elf) as sensor:
        port = sensor.open_serial(timeout=10)
        match = _LINE.fullmatch(port.readline())
        assert match is not None
        loop, empty, n, stack = (int(g) for g in match.groups())
        port.write(b"q")
        assert sensor.wait(10) == 3
    # The loop is exactly 3 n + 1 instructions plus the call (a handful); the counter's
    # resolution is one SysTick tick = 40 instructions.
    exact = 3 * n + 1
    assert exact <= loop * INSNS_PER_TICK + INSNS_PER_TICK
    assert loop * INSNS_PER_TICK <= exact + 2 * INSNS_PER_TICK
    assert empty <= 1
    assert 0 < stack < 1024


def test_qemu_selftest_echoes_bytes_and_exits_with_its_status(selftest_elf):
    payload = bytes(range(256)).replace(b"q", b"") * 8  # more than the 256-byte RX ring
    with QemuSensor(selftest_elf) as sensor:
        port = sensor.open_serial(timeout=10)
        assert _LINE.fullmatch(port.readline())
        port.write(payload)
        echoed = port.read(len(payload))
        port.write(b"q")
        status = sensor.wait(10)
    assert echoed == payload
    assert status == 3
    assert not sensor.running


def test_qemu_sensor_close_stops_a_running_firmware(selftest_elf):
    sensor = QemuSensor(selftest_elf).start()
    port = sensor.open_serial(timeout=10)
    assert _LINE.fullmatch(port.readline())
    assert sensor.running
    sensor.close()
    assert not sensor.running
    assert sensor.returncode is not None
    sensor.close()  # idempotent


def test_qemu_sensor_missing_image_raises(tmp_path):
    require_tool("qemu-system-arm", "qemu-system-arm")
    with pytest.raises(ExportError, match="does not exist"):
        QemuSensor(tmp_path / "nothing.elf").start()


def test_qemu_sensor_non_arm_image_raises(tmp_path):
    require_tool("qemu-system-arm", "qemu-system-arm")
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"not an elf at all, only text")
    with pytest.raises(ExportError, match="not a 32-bit ARM ELF"):
        QemuSensor(bad).start()
    assert not QemuSensor(bad).running


def test_qemu_sensor_bad_machine_raises_with_qemu_message(selftest_elf):
    with pytest.raises(ExportError, match=r"QEMU exited at start-up: .*unsupported machine type"):
        QemuSensor(selftest_elf, machine="no-such-board").start()
