"""The network on an Atari 800 (1979; a 6502 at 1.79 MHz): an executable built by cc65, run in atari800.

:func:`build_atari` links the same portable C and assembly dot product as :func:`qiml.deploy.build_6502`
with a driver for cc65's ``atari`` target: it reads digits (``n_in`` int8 bytes each) from the file
``H1:DIGITS.BIN``, writes each one's class to ``H1:CLASSES.BIN``, prints ``digit n: class c`` on the
screen, and at the end writes ``H1:TIME.BIN``: the jiffies (1/59.92 s frames of the NTSC machine's
real-time clock, ``RTCLOK``) spent inside ``qiml_predict``, summed over the digits. That is the real
machine's time per digit, with everything that slows its 6502 down (ANTIC's display DMA, the OS's
vertical-blank interrupt), which sim65's cycle count leaves out.

:meth:`AtariProgram.run` runs it in ``atari800`` (Debian's package, from the ``contrib`` archive; its
built-in AltirraOS replaces Atari's ROMs) emulating an NTSC Atari 800 headless (SDL's dummy video and
audio drivers), with ``H1:`` mapped to a scratch folder, in turbo mode (the emulated clock is
unchanged), and stops it once ``TIME.BIN`` is written.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError, DeployError
from ..files import atomic_write_text
from .c_export import export_c
from .emulators import require_tool
from .integer import IntegerNetwork
from .m6502 import cc65_build, write_dot_asm

__all__ = ["AtariProgram", "build_atari", "JIFFY_HZ"]

#: the NTSC Atari 800's frame rate: one RTCLOK jiffy is 1/JIFFY_HZ s
JIFFY_HZ = 59.92

_DRIVER = r"""/* qiml_atari.c: digits from H1:DIGITS.BIN, classes to H1:CLASSES.BIN and the screen, the jiffies spent
   in qiml_predict to H1:TIME.BIN (3 bytes, little endian). */
#include <stdio.h>
#include "qiml_model.h"

#define RTCLOK ((volatile unsigned char *)0x12)   /* the OS's frame counter, high byte first */

static unsigned long jiffies(void)
{
    unsigned char a, b, c;
    do {
        a = RTCLOK[2];
        b = RTCLOK[1];
        c = RTCLOK[0];
    } while (a != RTCLOK[2]);                       /* read again if a frame ticked in between */
    return ((unsigned long)c << 16) | ((unsigned)b << 8) | a;
}

int main(void)
{
    static int8_t x[QIML_N_INPUTS];
    static unsigned char t[3];
    FILE *in = fopen("H1:DIGITS.BIN", "rb");
    FILE *out = fopen("H1:CLASSES.BIN", "wb");
    FILE *tf;
    unsigned long spent = 0, t0;
    unsigned n = 0;
    int c;
    if (in == NULL || out == NULL) {
        puts("cannot open H1:DIGITS.BIN or H1:CLASSES.BIN");
        return 1;
    }
    while (fread(x, 1, QIML_N_INPUTS, in) == QIML_N_INPUTS) {
        t0 = jiffies();
        c = qiml_predict(x);
        spent += jiffies() - t0;
        fputc(c, out);
        printf("digit %u: class %d\n", n++, c);
    }
    fclose(out);
    fclose(in);
    t[0] = (unsigned char)(spent & 0xFF);
    t[1] = (unsigned char)((spent >> 8) & 0xFF);
    t[2] = (unsigned char)((spent >> 16) & 0xFF);
    tf = fopen("H1:TIME.BIN", "wb");
    if (tf != NULL) {
        fwrite(t, 1, 3, tf);
        fclose(tf);
    }
    printf("%u digits, %lu jiffies\n", n, spent);
    return 0;
}
"""


@dataclass
class AtariProgram:
    """A built Atari 800 executable (``qiml.xex``) and its sizes."""

    xex: Path
    reference: IntegerNetwork
    segments: dict[str, int]

    @property
    def file_bytes(self) -> int:
        """Bytes of the executable: program, weights, the C runtime with stdio, and the load headers."""
        return self.xex.stat().st_size

    def run(self, Xq: ArrayLike, *, timeout: float = 600.0) -> tuple[NDArray[np.intp], float]:
        """Classify int8 digits ``Xq`` (N, n_in) in atari800; return the classes and the real machine's
        seconds per digit inside ``qiml_predict`` (jiffies / N / 59.92)."""
        x = np.asarray(Xq)
        n_in = self.reference.layer_sizes[0]
        if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != n_in or x.shape[0] < 1:
            raise ConfigError(f"Xq must be int8 of shape (N >= 1, {n_in}), got {x.dtype} {x.shape}")
        emulator = require_tool("atari800")
        with tempfile.TemporaryDirectory() as tmp:
            host = Path(tmp) / "h1"
            host.mkdir()
            (host / "DIGITS.BIN").write_bytes(x.tobytes())
            cfg = Path(tmp) / "atari800.cfg"
            atomic_write_text(cfg, "")
            env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
            cmd = [emulator, "-config", str(cfg), "-no-autosave-config", "-atari", "-ntsc", "-nobasic", "-nosound",
                   "-turbo", "-H1", str(host), "-hreadwrite", "-run", str(self.xex)]
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline, done = time.monotonic() + timeout, host / "TIME.BIN"
            try:
                while not (done.exists() and done.stat().st_size == 3):
                    if proc.poll() is not None:
                        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                        raise DeployError(f"atari800 exited with {proc.returncode} before the program finished: "
                                          f"{err.splitlines()[-1] if err else 'no message'}")
                    if time.monotonic() > deadline:
                        raise DeployError(f"the Atari program did not finish within {timeout:g} s")
                    time.sleep(0.05)
            finally:
                proc.kill()
                proc.wait()
            classes = np.frombuffer((host / "CLASSES.BIN").read_bytes(), dtype=np.uint8).astype(np.intp)
            spent = int.from_bytes(done.read_bytes(), "little")
        if classes.shape != (x.shape[0],):
            raise DeployError(f"the Atari program classified {classes.size} of {x.shape[0]} digits")
        return classes, spent / x.shape[0] / JIFFY_HZ


def build_atari(ref: IntegerNetwork, out_dir: str | os.PathLike[str]) -> AtariProgram:
    """Build ``ref`` as an Atari 800 executable ``qiml.xex`` in ``out_dir`` (cc65's ``atari`` target)."""
    out = Path(out_dir)
    export_c(ref, out)
    atomic_write_text(out / "qiml_atari.c", _DRIVER)
    write_dot_asm(out)
    segments = cc65_build(out, "atari", ["qiml_atari.c", "qiml_model.c", "qiml_dot.s"], "qiml.xex",
                          ["-DQIML_EXTERN_DOT"])
    return AtariProgram(out / "qiml.xex", ref, segments)
