"""Run a cc65 ``sim6502`` program in two independent 6502 emulators: sim65 and py65.

A C program built with ``cl65 -t sim6502 -O -o prog.bin prog.c`` runs on no real machine. It runs in
an emulator that provides the few operating-system calls the cc65 C library needs. Two emulators are
available here:

* **sim65**, cc65's own simulator (the ``sim65`` program of the Debian package ``cc65``, which reports
  itself as V2.18 although the package is 2.19). It is written in C and fast, and ``sim65 -c`` prints
  the number of CPU cycles the program took. :func:`run_sim65` runs it in a subprocess.
* **py65**, a 6502 written in pure Python (``py65.devices.mpu6502.MPU``, an NMOS 6502 with the 151
  documented opcodes). It shares no code with sim65, so it cross-checks sim65's instruction semantics
  and cycle tables. It is slow: about 1.6 million instructions (6 million cycles) per second with
  the inlined loop here, against 0.8 million with ``MPU.step``. :func:`run_py65` loads the program
  into py65 and handles the system calls in Python, the way sim65 handles them.

Both return an :class:`EmulatorRun`: the bytes the program wrote to fd 1, its exit code, and its
cycle count. On the same program and input the stdout and exit code must agree. The cycle counts can
differ, for two known reasons:

* sim65 2.18/2.19 has a branch-timing bug, fixed upstream in cc65 commit 709d71e (November 2024). A
  taken branch pays the page-crossing cycle when its target lies on another page than the branch
  *opcode*. On the real 6502 the comparison is with the *next instruction*. The two rules give
  different answers only for a branch whose opcode is at ``$xxFE`` or ``$xxFF``, so that the next
  instruction starts on the following page. The difference is then +1 or -1 cycle. On the test
  program this makes sim65 count 133 more cycles than the hardware in 1.3 million.
* py65 1.2.0 charges ``DEC abs`` ($CE) 3 cycles; the 6502 takes 6, and sim65 counts 6.

:func:`run_py65` corrects the second and, with ``timing="sim65"`` (the default), copies the first. Its
count then equals sim65's exactly, and any difference points to a bug in one of the two. With
``timing="6502"`` it counts the cycles of a real NMOS 6502.

Binary format (cc65 2.18/2.19, ``libsrc/sim6502/exehdr.s``). A 12-byte header, then the image:

======  ====  =============================================================
offset  size  field
======  ====  =============================================================
0       5     magic ``b"sim65"``
5       1     header version, 2
6       1     CPU: 0 = 6502, 1 = 65C02 (refused here)
7       1     zero-page address of the cc65 C stack pointer ``sp`` (2 bytes)
8       2     load address, little endian
10      2     reset address, little endian (where execution starts)
12      ...   the image, loaded at the load address
======  ====  =============================================================

sim65 fills the rest of memory with ``$FF`` (an illegal opcode) and stores the reset address at
``$FFFC``. The image must end below ``$FFF4``, the first hook address. The linker configuration
``sim6502.cfg`` ends the program's RAM, with the C stack at its top, at ``$FFF0``.

Hooks ("paravirtualization", ``src/sim65/paravirt.c``). The C library's ``open``, ``close``,
``read``, ``write``, ``args`` (set up ``argc``/``argv``) and ``exit`` are the addresses
``$FFF4``..``$FFF9`` in that order. When a ``JSR``, ``JMP abs`` or ``JMP (ind)`` lands on one, sim65
runs the call in C. The arguments are read from the cc65 software stack at ``sp``. The last argument
comes in A/X (``__fastcall__``, low byte in A) and is not on the stack. The hook pops its arguments
by adding to ``sp`` and leaves its result in A/X. It then returns as an ``RTS`` would: it pops the
return address from the hardware stack. An ``RTS`` costs no cycles here, so a hook call costs only
the cycles of its ``JSR`` (6) or ``JMP`` (3). ``exit`` ends the program with exit code A, and
sim65 does not count the cycles of the jump into it.
"""

from __future__ import annotations

import numbers
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qiml.errors import ConfigError, DeployError

__all__ = [
    "DEFAULT_PY65_MAX_CYCLES",
    "HOOK_BASE",
    "EmulatorRun",
    "Sim65Header",
    "read_header",
    "require_tool",
    "run_py65",
    "run_sim65",
]

#: The magic bytes a sim65 program starts with.
MAGIC = b"sim65"
#: The only header version sim65 2.18/2.19 accepts.
HEADER_VERSION = 2
#: Size of the header, bytes.
HEADER_SIZE = 12
#: The first hook address. The image must end below it.
HOOK_BASE = 0xFFF4
#: The hooks, in address order from :data:`HOOK_BASE`.
HOOKS = ("open", "close", "read", "write", "args", "exit")
#: The cycle limit of :func:`run_py65` when none is given (about 15 to 60 minutes of py65).
DEFAULT_PY65_MAX_CYCLES = 10**9

# sim65's own exit codes (src/sim65/error.h of 2.19): an error (bad file, illegal opcode) and the -x limit
_SIM65_ERROR = 0x7F
_SIM65_ERROR_TIMEOUT = 0x7E
# the line `sim65 -c` prints on stdout at exit, after everything the program wrote (printf to the buffered
# stdout, while the program's writes are unbuffered write(2) calls)
_CYCLES_LINE = re.compile(rb"(\d+) cycles\n\Z")
_JUMPS = frozenset({0x20, 0x4C, 0x6C})   # JSR abs, JMP abs, JMP (ind): the opcodes that trigger a hook
_BRANCHES = (0x10, 0x30, 0x50, 0x70, 0x90, 0xB0, 0xD0, 0xF0)   # BPL BMI BVC BVS BCC BCS BNE BEQ
_DEC_ABS = 0xCE
TIMINGS = ("sim65", "6502")


@dataclass(frozen=True)
class Sim65Header:
    """The header of a sim65 program.

    Attributes
    ----------
    version : int
        Header version (2).
    cpu : int
        0 = 6502 (the only one accepted here), 1 = 65C02.
    sp_address : int
        Zero-page address of the cc65 C stack pointer ``sp`` (a 16-bit word at ``sp_address``).
    load_address : int
        Address where the image is loaded (16 bits).
    reset_address : int
        Address where execution starts (16 bits).
    """

    version: int
    cpu: int
    sp_address: int
    load_address: int
    reset_address: int


@dataclass(frozen=True)
class EmulatorRun:
    """What a program did in an emulator.

    Attributes
    ----------
    stdout : bytes
        Everything the program wrote to fd 1, in order.
    exit_code : int
        The program's exit code, 0..255 (the A register at ``exit``: the low byte of ``main``'s
        return value).
    cycles : int
        CPU cycles from reset to the jump into ``exit`` (that jump not included, as sim65 counts).
    """

    stdout: bytes
    exit_code: int
    cycles: int


def read_header(binary: bytes) -> Sim65Header:
    """Parse and check the header of a sim65 program.

    Parameters
    ----------
    binary : bytes
        The whole file (header and image).

    Returns
    -------
    Sim65Header

    Raises
    ------
    DeployError
        The file is not a sim65 program: bad magic, another header version, shorter than the 12-byte
        header, built for another CPU than the NMOS 6502 (``-t sim65c02``), or an image that does not
        fit between the load address and ``$FFF4``.
    """
    data = bytes(binary)
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise DeployError(f"not a sim65 program: bad magic, the file starts with {data[:len(MAGIC)]!r}, "
                          f"not {MAGIC!r}")
    if len(data) < HEADER_SIZE:
        raise DeployError(f"not a sim65 program: truncated, {len(data)} bytes, shorter than the "
                          f"{HEADER_SIZE}-byte header")
    version, cpu, sp_address = data[5], data[6], data[7]
    if version != HEADER_VERSION:
        raise DeployError(f"sim65 program of header version {version}; only version {HEADER_VERSION} "
                          "(cc65 2.18/2.19) is supported")
    if cpu != 0:
        name = "65C02" if cpu == 1 else f"unknown CPU {cpu}"
        raise DeployError(f"sim65 program for the {name}; only the NMOS 6502 (CPU byte 0, cl65 -t sim6502) "
                          "is supported")
    load = int.from_bytes(data[8:10], "little")
    reset = int.from_bytes(data[10:12], "little")
    size = len(data) - HEADER_SIZE
    if load + size > HOOK_BASE:
        raise DeployError(f"sim65 image of {size} bytes at ${load:04X} does not fit below the hooks at "
                          f"${HOOK_BASE:04X}")
    return Sim65Header(version=version, cpu=cpu, sp_address=sp_address, load_address=load,
                       reset_address=reset)


def require_tool(name: str) -> str:
    """Return the path of the program ``name`` on ``PATH``.

    Parameters
    ----------
    name : str
        A program of the cc65 package (``sim65``, ``cl65``, ``ca65``, ``ld65``, ``cc65``).

    Raises
    ------
    DeployError
        It is not on ``PATH``. The message names the Debian package.
    """
    path = shutil.which(name)
    if path is None:
        raise DeployError(f"{name} not found on PATH: install the Debian package cc65 "
                          "(apt-get install cc65; ./dev test does it)")
    return path


def _load(binary: str | os.PathLike[str]) -> tuple[bytes, Sim65Header]:
    try:
        data = Path(binary).read_bytes()
    except OSError as exc:
        raise DeployError(f"cannot read the sim65 program {os.fspath(binary)!r}: {exc.strerror}") from exc
    try:
        header = read_header(data)
    except DeployError as exc:
        raise DeployError(f"{os.fspath(binary)}: {exc}") from None
    return data, header


def _argv0(binary: str | os.PathLike[str]) -> str:
    """The program's name as both emulators pass it to the program (``argv[0]``, on its C stack)."""
    name = os.fspath(binary)
    return "./" + name if name.startswith("-") else name   # not an option of sim65


def _check_max_cycles(max_cycles: int | None) -> None:
    if max_cycles is None:
        return
    if isinstance(max_cycles, bool) or not isinstance(max_cycles, numbers.Integral) or max_cycles < 1:
        raise ConfigError(f"max_cycles must be a positive integer or None, got {max_cycles!r}")


def run_sim65(binary: str | os.PathLike[str], stdin: bytes = b"", *, max_cycles: int | None = None,
              timeout: float | None = None) -> EmulatorRun:
    """Run a sim65 program in cc65's ``sim65`` simulator and return its output and cycle count.

    It runs ``sim65 -c [-x max_cycles] binary``. The program gets no arguments, so ``argc`` is 1 and
    ``argv[0]`` is ``binary`` as given (with ``./`` before a name that starts with ``-``). Its stdin
    is a temporary file holding ``stdin``, not a pipe, so every ``read`` returns as many bytes as it
    asks for (a pipe can return fewer, which would change the cycle count from one run to the next).
    The file ``open``/``close`` calls reach the real file system, as sim65 always does.

    Parameters
    ----------
    binary : str or os.PathLike
        The program (``cl65 -t sim6502 -o binary ...``).
    stdin : bytes
        What the program reads from fd 0.
    max_cycles : int or None
        Stop with :class:`~qiml.errors.DeployError` once the program has run this many cycles. It must
        finish in fewer (sim65's ``-x``). None: no limit.
    timeout : float or None
        Wall-clock limit, seconds. None: no limit.

    Returns
    -------
    EmulatorRun
        fd 1's bytes, the exit code (sim65's own exit code), and the cycles sim65 printed.

    Raises
    ------
    DeployError
        ``sim65`` is not installed, the file is not a 6502 sim65 program, or sim65 stopped with an
        error (cycle limit reached, illegal opcode, ...; the message ends with sim65's last stderr
        line), was killed, timed out, or printed no cycle count.
    ConfigError
        ``max_cycles`` is not a positive integer.

    Notes
    -----
    ``sim65 -c`` prints ``"<n> cycles\\n"`` on stdout when the program calls ``exit``. It uses the
    buffered stdio, and the program's output goes through unbuffered ``write(2)`` calls, so the line
    always comes last, directly after the program's last byte (on the same line if that byte is not
    a newline). It is stripped from the end of stdout. Errors (exit code 126 for the ``-x`` limit, 127
    for everything else) print ``Error: ...`` on stderr and no cycle count.
    """
    _check_max_cycles(max_cycles)
    sim65 = require_tool("sim65")
    _load(binary)
    cmd = [sim65, "-c"]
    if max_cycles is not None:
        cmd += ["-x", str(int(max_cycles))]
    cmd.append(_argv0(binary))
    with tempfile.TemporaryFile() as fin:
        fin.write(bytes(stdin))
        fin.seek(0)
        try:
            proc = subprocess.run(cmd, stdin=fin, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DeployError(f"sim65 timed out after {timeout} s running {os.fspath(binary)}") from exc
        except OSError as exc:
            raise DeployError(f"cannot run sim65: {exc}") from exc
    err_lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    last = err_lines[-1].strip() if err_lines else ""
    where = f"sim65 on {os.fspath(binary)}"
    if proc.returncode < 0:
        raise DeployError(f"{where}: killed by signal {-proc.returncode}" + (f": {last}" if last else ""))
    if proc.returncode in (_SIM65_ERROR, _SIM65_ERROR_TIMEOUT) and last.startswith(("Error:", "Internal error:")):
        if proc.returncode == _SIM65_ERROR_TIMEOUT:
            raise DeployError(f"{where}: cycle limit of {max_cycles} reached (exit code 126): {last}")
        raise DeployError(f"{where}: failed (exit code {proc.returncode}): {last}")
    m = _CYCLES_LINE.search(proc.stdout)
    if m is None:
        raise DeployError(f"{where}: exit code {proc.returncode} without the cycle count of sim65 -c"
                          + (f": {last}" if last else ""))
    return EmulatorRun(stdout=proc.stdout[: m.start()], exit_code=proc.returncode, cycles=int(m.group(1)))


class _Exit(Exception):
    """The program called ``exit``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _sim65_branch(branch: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap a py65 branch so that it counts like sim65 2.18/2.19: the page-crossing cycle of a
    taken branch compares the target with the page of the branch opcode, not of the next instruction."""

    def sim65_branch(mpu: Any) -> None:
        opcode_address = mpu.pc - 1
        branch(mpu)
        if mpu.excycles:   # taken (py65 adds 1, plus 1 for a page crossed)
            mpu.excycles = 2 if (opcode_address ^ mpu.pc) & 0xFF00 else 1

    return sim65_branch


def _illegal(mpu: Any) -> None:
    pc = (mpu.pc - 1) & 0xFFFF
    raise DeployError(f"py65: illegal opcode ${mpu.memory[pc]:02X} at address ${pc:04X}")


class _Hooks:
    """The six sim65 hooks over a py65 MPU (``src/sim65/paravirt.c`` of cc65 2.19, with no host files)."""

    def __init__(self, mpu: Any, sp_address: int, stdin: bytes, argv: list[bytes]) -> None:
        self.mpu = mpu
        self.mem: list[int] = mpu.memory
        self.spa = sp_address
        self.stdin = stdin
        self.pos = 0
        self.argv = argv
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.open_fds = {0, 1, 2}
        self.table: tuple[Callable[[], None], ...] = (self.open, self.close, self.read, self.write,
                                                      self.args, self.exit)

    # memory and registers
    def word(self, addr: int) -> int:
        mem = self.mem
        return mem[addr & 0xFFFF] | (mem[(addr + 1) & 0xFFFF] << 8)

    def set_word(self, addr: int, value: int) -> None:
        self.mem[addr & 0xFFFF] = value & 0xFF
        self.mem[(addr + 1) & 0xFFFF] = (value >> 8) & 0xFF

    def sp(self) -> int:
        return self.mem[self.spa] | (self.mem[(self.spa + 1) & 0xFF] << 8)

    def set_sp(self, value: int) -> None:
        self.mem[self.spa] = value & 0xFF
        self.mem[(self.spa + 1) & 0xFF] = (value >> 8) & 0xFF

    def pop_param(self, incr: int) -> int:
        sp = self.sp()
        value = self.word(sp)
        self.set_sp(sp + incr)
        return value

    def ax(self) -> int:
        return self.mpu.a | (self.mpu.x << 8)

    def set_ax(self, value: int) -> None:
        self.mpu.a = value & 0xFF
        self.mpu.x = (value >> 8) & 0xFF

    # the hooks
    def open(self) -> None:
        # int open(const char* name, int flags, ...): Y is the size of the arguments, bytes; no files here
        incr = (self.mpu.y - 4) & 0xFF   # PopParam's unsigned char argument
        self.pop_param(incr)
        self.pop_param(2)
        self.pop_param(2)
        self.set_ax(-1)

    def close(self) -> None:
        fd = self.ax()
        if fd in self.open_fds:
            self.open_fds.discard(fd)
            self.set_ax(0)
        else:
            self.set_ax(-1)

    def read(self) -> None:
        count = self.ax()
        buf = self.pop_param(2)
        fd = self.pop_param(2)
        if fd != 0 or fd not in self.open_fds:
            self.set_ax(-1)
            return
        chunk = self.stdin[self.pos: self.pos + count]
        self.pos += len(chunk)
        mem = self.mem
        for i, byte in enumerate(chunk):
            mem[(buf + i) & 0xFFFF] = byte
        self.set_ax(len(chunk))

    def write(self) -> None:
        count = self.ax()
        buf = self.pop_param(2)
        fd = self.pop_param(2)
        if fd not in (1, 2) or fd not in self.open_fds:
            self.set_ax(-1)
            return
        mem = self.mem
        data = bytes(mem[(buf + i) & 0xFFFF] for i in range(count))
        (self.stdout if fd == 1 else self.stderr).extend(data)
        self.set_ax(count)

    def args(self) -> None:
        # exactly PVArgs: argv[] below sp, the strings below it, sp moved under them; AX = argc
        argc = len(self.argv)
        argv_addr = self.ax()
        sp = self.sp()
        args = sp - (argc + 1) * 2
        self.set_word(argv_addr, args)
        sp = args
        for arg in self.argv:
            sp -= len(arg) + 1
            for i, byte in enumerate(arg + b"\0"):
                self.mem[(sp + i) & 0xFFFF] = byte
            self.set_word(args, sp)
            args += 2
        self.set_word(args, self.spa)   # sim65 writes the address of sp, not 0 (it is 0 with the default sp = $00)
        self.set_sp(sp)
        self.set_ax(argc)

    def exit(self) -> None:
        raise _Exit(self.mpu.a)

    def call(self, pc: int) -> None:
        """Run the hook at ``pc``, then return like ``RTS`` (at no cycle cost, as sim65)."""
        self.table[pc - HOOK_BASE]()
        mpu = self.mpu
        mem = self.mem
        sp = (mpu.sp + 1) & 0xFF
        lo = mem[0x100 + sp]
        sp = (sp + 1) & 0xFF
        hi = mem[0x100 + sp]
        mpu.sp = sp
        mpu.pc = (((hi << 8) | lo) + 1) & 0xFFFF


def run_py65(binary: str | os.PathLike[str], stdin: bytes = b"", *,
             max_cycles: int | None = None, timing: str = "sim65") -> EmulatorRun:
    """Run a sim65 program in py65's NMOS 6502 and return its output and cycle count.

    The memory is 64 KiB filled with ``$FF``. The image goes to the load address and the reset
    address to ``$FFFC``, and PC starts at the reset address. The loop then executes py65's
    instructions until the program calls ``exit``. The hooks run in Python as sim65 runs them (see
    the module docstring), but only after a ``JSR``, ``JMP abs`` or ``JMP (ind)``, as in sim65:

    * ``read``: fd 0 reads from ``stdin`` (as many bytes as asked, 0 at the end). Any other fd
      returns -1.
    * ``write``: fd 1 goes to :attr:`EmulatorRun.stdout`. fd 2 is accepted and dropped. Any other fd
      returns -1.
    * ``open`` returns -1 (there are no host files here; sim65 would open them). ``close`` returns 0
      for an open fd 0..2 and -1 otherwise.
    * ``args``: ``argc`` = 1 and ``argv[0]`` = ``binary`` as given, as sim65 sets them. The
      strings lie on the C stack, so the stack's position, and with it the page crossings of
      ``(sp),y``, are the same in both emulators.
    * ``exit``: ends the run with exit code A.

    The loop is py65's ``MPU.step`` inlined, with the same cycle accounting (``cycletime[op] +
    excycles``). Opcodes that py65 does not implement stop the run with an error, as in sim65. The
    two emulators have the same set of 105 illegal NMOS opcodes. ``DEC abs`` is charged 6 cycles
    rather than py65 1.2.0's 3.

    Parameters
    ----------
    binary : str or os.PathLike
        The program (``cl65 -t sim6502 -o binary ...``).
    stdin : bytes
        What the program reads from fd 0.
    max_cycles : int or None
        Stop with :class:`~qiml.errors.DeployError` once the program has run this many cycles. It must
        finish in fewer, as with sim65's ``-x``. None: :data:`DEFAULT_PY65_MAX_CYCLES` (10**9 cycles,
        tens of minutes of py65), so a program that never exits cannot spin forever.
    timing : {"sim65", "6502"}
        ``"sim65"``: count cycles as sim65 2.18/2.19 counts them, including its branch page-crossing
        bug (see the module docstring), so the count can be compared with :func:`run_sim65` to the
        cycle. ``"6502"``: count as the NMOS 6502 does.

    Returns
    -------
    EmulatorRun
        fd 1's bytes, the exit code, and the cycles.

    Raises
    ------
    DeployError
        py65 is not installed, the file is not a 6502 sim65 program, the cycle limit was reached, or
        the program executed an illegal opcode.
    ConfigError
        ``max_cycles`` is not a positive integer, or ``timing`` is unknown.

    Notes
    -----
    With ``timing="sim65"`` the count equals sim65's to the cycle on the programs tried (see the
    tests). For example, the test program with 300 input bytes takes 1,314,155 cycles in both, and
    133 fewer with ``timing="6502"``. The count depends a little on the length of ``argv[0]``, which
    moves the C stack. Both emulators charge the ``JSR`` (6) or ``JMP`` (3) into a hook
    and nothing for the hook's body or its ``RTS``. Neither counts the jump into ``exit``. Both charge
    +1 for a page crossed by ``abs,X``/``abs,Y``/``(zp),Y`` reads, and decimal-mode ``ADC``/``SBC``
    take no extra cycle on the NMOS 6502 in either. So the hooks are not a source of difference, and
    neither are decimal mode or the page-crossing reads. Only the two tables can be.
    """
    _check_max_cycles(max_cycles)
    if timing not in TIMINGS:
        raise ConfigError(f"timing must be one of {TIMINGS}, got {timing!r}")
    try:
        from py65.devices.mpu6502 import MPU
    except ImportError as exc:   # pragma: no cover - py65 is in the deploy and test extras
        raise DeployError("py65 is not installed: pip install 'qiml[deploy]' (py65==1.2.0)") from exc
    data, header = _load(binary)
    limit = DEFAULT_PY65_MAX_CYCLES if max_cycles is None else int(max_cycles)

    memory = [0xFF] * 0x10000
    image = data[HEADER_SIZE:]
    memory[header.load_address: header.load_address + len(image)] = list(image)
    memory[0xFFFC] = header.reset_address & 0xFF
    memory[0xFFFD] = header.reset_address >> 8
    mpu = MPU(memory=memory, pc=header.reset_address)
    hooks = _Hooks(mpu, header.sp_address, bytes(stdin), [os.fsencode(_argv0(binary))])

    # the inner loop: MPU.step inlined over local names; every hook address is >= $FFF4 and no image
    # byte is, so one comparison per instruction finds both the hooks and the top of memory (where
    # pc + 1 and the operands would run past the 64 KiB list)
    not_implemented = MPU.inst_not_implemented
    instruct = [_illegal if f is not_implemented else f for f in MPU.instruct]
    if timing == "sim65":
        for op in _BRANCHES:
            instruct[op] = _sim65_branch(instruct[op])
    cycletime = list(MPU.cycletime)
    cycletime[_DEC_ABS] = 6   # py65 1.2.0 says 3
    extracycles = list(MPU.extracycles)
    step = mpu.step
    hook_top = HOOK_BASE + len(HOOKS)
    cycles = 0
    op = 0
    try:
        while True:
            pc = mpu.pc
            if pc >= HOOK_BASE:
                pc &= 0xFFFF
                mpu.pc = pc
                if pc < hook_top and op in _JUMPS:
                    hooks.call(pc)   # exit raises _Exit
                    op = -1          # the RTS is done: the next instruction does not trigger a hook
                    continue
                if cycles >= limit:
                    break
                op = memory[pc]
                if instruct[op] is _illegal:
                    mpu.pc = pc + 1
                    _illegal(mpu)
                mpu.processorCycles = 0
                step()
                cycles += mpu.processorCycles
                continue
            if cycles >= limit:
                break
            op = memory[pc]
            mpu.pc = pc + 1
            mpu.excycles = 0
            mpu.addcycles = extracycles[op]
            instruct[op](mpu)
            cycles += cycletime[op] + mpu.excycles
    except _Exit as done:
        # sim65 leaves the program inside the jump into exit, before counting that jump's cycles
        cycles -= cycletime[op]
        mpu.processorCycles = cycles
        return EmulatorRun(stdout=bytes(hooks.stdout), exit_code=done.code, cycles=cycles)
    except IndexError as exc:
        raise DeployError(f"py65 on {os.fspath(binary)}: memory access past $FFFF near PC ${mpu.pc:04X}") from exc
    mpu.processorCycles = cycles
    raise DeployError(f"py65 on {os.fspath(binary)}: cycle limit of {limit} reached at PC ${mpu.pc & 0xFFFF:04X} "
                      "(the program did not exit)")
