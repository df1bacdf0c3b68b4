"""6502 programs: an int8 network built by cc65, run in sim65 and cross-checked in py65.

:func:`build_6502` writes the portable C of :mod:`qiml.deploy.c_export` with its driver (samples in
from standard input, one class byte out), replaces the C dot product with hand-written assembly
(``qiml_dot.s``: quarter-square products and skipped zeros, about 11x fewer cycles than cc65's C on
an MNIST digit), and links it for cc65's ``sim6502`` target::

    cl65 -t sim6502 -O -Or -Cl -DQIML_EXTERN_DOT qiml_main.c qiml_model.c qiml_dot.s

The program is an NMOS 6502 binary whose I/O goes through the simulator's hooks; the network's
code is the same on any 6502 (:mod:`qiml.deploy.atari` changes only the driver). Its sizes come
from the linker's map: code (STARTUP, ONCE, CODE), data (RODATA, DATA: weights, biases, tables),
BSS, zero page, and the C stack (``__STACKSIZE__``, set here to 512 bytes). ``ram_bytes`` is what the
running program occupies: the loaded image, BSS, the C stack, its zero-page bytes and the CPU's
stack page.

:meth:`Program6502.predict` runs it in ``sim65`` (fast; the cycle counts) or ``py65`` (an
independent emulator written in Python; slow). Cycles per sample are measured, not estimated:
(the cycles of a run of N samples minus those of a run of none) / N, which include the reading of
each sample through the simulator's ``read`` hook.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, DeployError
from ..files import atomic_write_text
from ..nn import MLP
from .c_export import export_c, write_driver
from .emulators import EmulatorRun, require_tool, run_py65, run_sim65
from .integer import IntegerNetwork, integer_reference
from .model_file import SavedModel

__all__ = ["Program6502", "build_6502", "CLOCK_HZ", "STACK_BYTES", "read_segments", "cc65_build", "write_dot_asm"]

#: the Atari 800's (NTSC) 6502 clock, 1.79 MHz: seconds per sample = cycles / CLOCK_HZ
CLOCK_HZ = 1_789_773
#: the C stack the programs are linked with (the driver's buffers are static; qiml_predict's logits use 40)
STACK_BYTES = 512
_CODE = ("STARTUP", "ONCE", "INIT", "CODE")
_DATA = ("RODATA", "DATA")
#: cycles one sample may take before the emulators give up (the asm build needs about 180 000 for 196-12-8-10)
MAX_CYCLES_PER_SAMPLE = 50_000_000


def write_dot_asm(out_dir: Path) -> Path:
    """Copy the assembly dot product ``qiml_dot.s`` (package data) into ``out_dir``."""
    path = out_dir / "qiml_dot.s"
    atomic_write_text(path, resources.files("qiml.deploy").joinpath("qiml_dot.s").read_text())
    return path


def cc65_build(out_dir: Path, target: str, sources: list[str], output: str, flags: list[str]) -> dict[str, int]:
    """``cl65 -t TARGET -O -Or -Cl FLAGS -o OUTPUT -m OUTPUT.map SOURCES`` in ``out_dir``; the segment sizes."""
    cl65 = require_tool("cl65")
    cmd = [cl65, "-t", target, "-O", "-Or", "-Cl", *flags, "-o", output, "-m", f"{output}.map", *sources]
    proc = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DeployError(f"cc65 failed ({' '.join(cmd)} in {out_dir}):\n{(proc.stderr or proc.stdout).strip()}")
    for source in sources:                       # cl65 leaves an object file beside each source
        (out_dir / source).with_suffix(".o").unlink(missing_ok=True)
    return read_segments((out_dir / f"{output}.map").read_text())


def read_segments(map_text: str) -> dict[str, int]:
    """Segment sizes in bytes from an ld65 map file's "Segment list"."""
    part = map_text.split("Segment list:", 1)
    if len(part) != 2:
        raise DeployError("the linker's map file has no segment list")
    sizes = {}
    for line in part[1].splitlines():
        m = re.match(r"^(\w+)\s+[0-9A-Fa-f]{6}\s+[0-9A-Fa-f]{6}\s+([0-9A-Fa-f]{6})\s+[0-9A-Fa-f]+\s*$", line)
        if m:
            sizes[m.group(1)] = int(m.group(2), 16)
        elif sizes and not line.strip():
            break
    return sizes


@dataclass
class Program6502:
    """A built 6502 program: its files, sizes, and how to run it (see the module docstring)."""

    binary: Path
    reference: IntegerNetwork
    segments: dict[str, int]
    startup_cycles: int
    #: mean cycles per sample: of the calibration run at build time, then of the latest sim65 predict
    cycles_per_sample: float = float("nan")
    asm: bool = True
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def code_bytes(self) -> int:
        """Bytes of machine code (the program, the C runtime it uses, the assembly)."""
        return sum(self.segments.get(s, 0) for s in _CODE)

    @property
    def data_bytes(self) -> int:
        """Bytes of constant and initialised data: the weights, biases and tables (and the runtime's)."""
        return sum(self.segments.get(s, 0) for s in _DATA)

    @property
    def program_bytes(self) -> int:
        """Code plus data: the bytes the program and its weights take (its file, less the 12-byte header)."""
        return self.code_bytes + self.data_bytes

    @property
    def ram_bytes(self) -> int:
        """Memory the running program occupies: image, BSS, C stack, zero page and the CPU stack page."""
        return (self.program_bytes + self.segments.get("BSS", 0) + STACK_BYTES + self.segments.get("ZEROPAGE", 0)
                + 256)

    @property
    def seconds_per_sample(self) -> float:
        """``cycles_per_sample`` at the Atari 800's 1.79 MHz."""
        return self.cycles_per_sample / CLOCK_HZ

    def run(self, Xq: ArrayLike, emulator: str = "sim65") -> tuple[NDArray[np.intp], EmulatorRun]:
        """Classify int8 samples ``Xq`` (N, n_in) in an emulator; return the classes and the raw run."""
        x = np.asarray(Xq)
        n_in = self.reference.layer_sizes[0]
        if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != n_in:
            raise ConfigError(f"Xq must be int8 of shape (N, {n_in}), got {x.dtype} {x.shape}")
        limit = self.startup_cycles + (x.shape[0] + 1) * MAX_CYCLES_PER_SAMPLE
        if emulator == "sim65":
            res = run_sim65(self.binary, x.tobytes(), max_cycles=limit)
        elif emulator == "py65":
            res = run_py65(self.binary, x.tobytes(), max_cycles=limit)
        else:
            raise ConfigError(f"emulator must be 'sim65' or 'py65', got {emulator!r}")
        if res.exit_code != 0 or len(res.stdout) != x.shape[0]:
            raise DeployError(f"the 6502 program in {emulator} exited with {res.exit_code} after {len(res.stdout)} of "
                              f"{x.shape[0]} samples")
        self.runs.append({"emulator": emulator, "samples": int(x.shape[0]), "cycles": res.cycles})
        if emulator == "sim65" and x.shape[0]:
            self.cycles_per_sample = (res.cycles - self.startup_cycles) / x.shape[0]
        return np.frombuffer(res.stdout, dtype=np.uint8).astype(np.intp), res

    def predict(self, X: ArrayLike, emulator: str = "sim65") -> NDArray[np.intp]:
        """Class labels (N,) of float inputs (quantized as the reference does) computed by the 6502 program."""
        return self.run(self.reference.quantize_inputs(X), emulator)[0]


def build_6502(net: MLP | SavedModel | IntegerNetwork, theta: ArrayLike | None = None,
               out_dir: str | os.PathLike[str] = "qiml-6502", *, asm: bool = True, calibrate: int = 4,
               **reference: Any) -> Program6502:
    """Build ``net`` (with ``theta``; or a loaded model file, or an integer network) as a sim6502 program.

    ``reference`` goes to :func:`qiml.deploy.integer_reference` (``bound=`` for a network trained on the
    QiML lattice, ``scales=``, ``input_range=``). ``asm=False`` keeps cc65's C dot product.
    ``calibrate``: seeded random int8 samples run once in sim65 to set ``cycles_per_sample`` (0: leave it
    NaN until the first :meth:`Program6502.predict`). Everything is written to ``out_dir``: the C files,
    ``qiml_dot.s``, the program ``qiml.sim`` and the map ``qiml.sim.map``.
    """
    if isinstance(net, IntegerNetwork):
        if theta is not None or reference:
            raise ConfigError("an IntegerNetwork is already quantized: pass neither theta nor reference options")
        ref = net
    else:
        ref = integer_reference(net, theta, **reference)
    require_tool("sim65")
    out = Path(out_dir)
    export_c(ref, out)
    write_driver(out)
    sources = ["qiml_main.c", "qiml_model.c"]
    flags = ["-Wl", f"-D,__STACKSIZE__={STACK_BYTES}"]
    if asm:
        sources.append(write_dot_asm(out).name)
        flags.append("-DQIML_EXTERN_DOT")
    segments = cc65_build(out, "sim6502", sources, "qiml.sim", flags)
    startup = run_sim65(out / "qiml.sim", b"", max_cycles=MAX_CYCLES_PER_SAMPLE)
    if startup.exit_code != 0 or startup.stdout:
        raise DeployError(f"the 6502 program misbehaved with no input (exit {startup.exit_code})")
    program = Program6502(out / "qiml.sim", ref, segments, startup.cycles, asm=asm)
    if calibrate:
        program.run(ref.random_inputs(calibrate))
    return program
