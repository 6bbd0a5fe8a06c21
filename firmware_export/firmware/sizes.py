"""Flash and RAM of a firmware image, from ``arm-none-eabi-size -A``.

``flash = .text + .rodata + .data`` (the initial values of ``.data`` live in flash) and
``RAM = .data + .bss + stack``, where the stack is the *measured* high-water mark of a run
(the start-up code paints the stack reservation; see ``docs/firmware-qemu.md``), not the
reservation the linker script makes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from firmware_export.errors import ExportError

__all__ = ["SectionSizes", "parse_size_output", "section_sizes"]

# Which allocated output section counts as what. Anything else allocated is an error: a
# new section must be classified on purpose, not silently left out of the budget.
_TEXT = (".text", ".isr_vector", ".init", ".fini")
_RODATA = (".rodata", ".ARM.extab", ".ARM.exidx")
_DATA = (".data",)
_BSS = (".bss",)
_STACK = (".stack",)
_NOT_LOADED = re.compile(r"^\.(debug|comment|ARM\.attributes|note|stab|gnu)")
_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s*$")


@dataclass(frozen=True)
class SectionSizes:
    """Allocated bytes per section class of one ELF image.

    Attributes
    ----------
    text, rodata, data, bss : int
        Bytes of code (+ vector table), constants, initialised and zeroed variables.
    stack_reserved : int
        The linker script's stack reservation (an upper bound, not a measurement).
    """

    text: int
    rodata: int
    data: int
    bss: int
    stack_reserved: int

    @property
    def flash(self) -> int:
        """Bytes of flash: ``text + rodata + data``."""
        return self.text + self.rodata + self.data

    @property
    def static_ram(self) -> int:
        """Bytes of RAM fixed at link time: ``data + bss``."""
        return self.data + self.bss

    def ram(self, stack_used: int) -> int:
        """Bytes of RAM with a measured stack: ``data + bss + stack_used``."""
        if stack_used < 0:
            raise ValueError(f"stack_used must be >= 0, got {stack_used!r}")
        return self.static_ram + stack_used


def parse_size_output(text: str) -> SectionSizes:
    """Classify the rows of ``arm-none-eabi-size -A`` output.

    Parameters
    ----------
    text : str
        The tool's output: one ``name size addr`` row per section.

    Raises
    ------
    ExportError
        An allocated section this module does not know, or no ``.text`` at all.
    """
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0, "stack": 0}
    seen_text = False
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            continue
        name, size = match.group(1), int(match.group(2))
        if name in _TEXT:
            totals["text"] += size
            seen_text = True
        elif name in _RODATA:
            totals["rodata"] += size
        elif name in _DATA:
            totals["data"] += size
        elif name in _BSS:
            totals["bss"] += size
        elif name in _STACK:
            totals["stack"] += size
        elif _NOT_LOADED.match(name) is None:
            raise ExportError(f"unexpected section {name!r} ({size} bytes) in the image")
    if not seen_text:
        raise ExportError("no .text section in the size report: not a firmware image")
    return SectionSizes(
        text=totals["text"],
        rodata=totals["rodata"],
        data=totals["data"],
        bss=totals["bss"],
        stack_reserved=totals["stack"],
    )


def section_sizes(elf: str | Path, size_tool: str | None = None) -> SectionSizes:
    """Run ``arm-none-eabi-size -A`` on ``elf`` and classify its sections."""
    tool = size_tool or shutil.which("arm-none-eabi-size")
    if tool is None:
        raise ExportError("arm-none-eabi-size not found: install Debian's binutils-arm-none-eabi")
    proc = subprocess.run([tool, "-A", str(elf)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ExportError(f"arm-none-eabi-size failed on {str(elf)!r}: {proc.stderr.strip()}")
    return parse_size_output(proc.stdout)
