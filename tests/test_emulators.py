"""qiml.deploy.emulators: cc65 sim6502 programs in sim65 and in py65 give the same output, exit code and cycles.

The C programs are built with ``cl65 -t sim6502 -O`` (Debian package cc65, installed by ``./dev test``;
without it these tests fail, naming it). The hand-assembled programs need no compiler.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from qiml.deploy import emulators as em
from qiml.errors import ConfigError, DeployError

# reads stdin until EOF in 32-byte reads; signed 8x8 -> 16-bit products into a wrapping 32-bit sum,
# arithmetic shifts of a signed 32-bit value, a 32-bit rotate; writes 13 bytes; exit code mix % 100
CHECKSUM_C = r"""
#include <stdint.h>
#include <unistd.h>

static unsigned char buf[32];
static unsigned char out[13];

int main(void)
{
    uint32_t acc = 0;
    uint32_t mix = 0x12345678UL;
    int8_t prev = 0;
    int8_t lo = 127, hi = -128;
    uint16_t n = 0;
    int r;
    unsigned char i;

    while ((r = read(0, buf, sizeof buf)) > 0) {
        for (i = 0; i < (unsigned char) r; ++i) {
            int8_t b = (int8_t) buf[i];
            int16_t p = (int16_t) b * prev;
            int32_t s;
            acc = acc * 31u + (uint32_t) (int32_t) p;
            s = (int32_t) acc >> 3;
            mix ^= (uint32_t) s;
            mix = (mix << 5) | (mix >> 27);
            if (b < lo) lo = b;
            if (b > hi) hi = b;
            prev = b;
            ++n;
        }
    }
    for (i = 0; i < 4; ++i) {
        out[i] = (unsigned char) (acc >> (8 * i));
        out[4 + i] = (unsigned char) (mix >> (8 * i));
    }
    out[8] = (unsigned char) lo;
    out[9] = (unsigned char) hi;
    out[10] = (unsigned char) n;
    out[11] = (unsigned char) (n >> 8);
    out[12] = '\n';
    write(1, out, 13);
    return (int) (mix % 100u);
}
"""

LOOP_C = r"""
int main(void) { volatile unsigned char x = 0; for (;;) { ++x; } return 0; }
"""

# output that looks like sim65's own cycle line and does not end with a newline
LOOKALIKE_C = r"""
#include <unistd.h>
int main(void) { write(1, "7 cycles\n", 9); write(2, "to stderr\n", 10); write(1, "abc", 3); return 126; }
"""


def _expected_checksum(data: bytes) -> tuple[bytes, int]:
    """What CHECKSUM_C writes and returns, computed in Python."""
    acc, mix, prev, lo, hi, n = 0, 0x12345678, 0, 127, -128, 0
    for byte in data:
        b = byte - 256 if byte >= 128 else byte
        acc = (acc * 31 + ((b * prev) & 0xFFFFFFFF)) & 0xFFFFFFFF
        signed = acc - (1 << 32) if acc >= 1 << 31 else acc
        mix ^= (signed >> 3) & 0xFFFFFFFF
        mix = ((mix << 5) | (mix >> 27)) & 0xFFFFFFFF
        lo, hi, prev, n = min(lo, b), max(hi, b), b, (n + 1) & 0xFFFF
    out = acc.to_bytes(4, "little") + mix.to_bytes(4, "little") + bytes([lo & 0xFF, hi & 0xFF])
    return out + n.to_bytes(2, "little") + b"\n", mix % 100


def _build(tmp: Path, name: str, source: str) -> Path:
    (tmp / f"{name}.c").write_text(source)
    binary = tmp / f"{name}.bin"
    subprocess.run(["cl65", "-t", "sim6502", "-O", "-o", str(binary), str(tmp / f"{name}.c")],
                   check=True, capture_output=True, cwd=tmp)
    return binary


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    em.require_tool("cl65")
    tmp = tmp_path_factory.mktemp("sim6502")
    return {name: _build(tmp, name, src) for name, src in
            [("checksum", CHECKSUM_C), ("loop", LOOP_C), ("lookalike", LOOKALIKE_C)]}


def _raw(code: bytes, load: int = 0x0200, reset: int | None = None, cpu: int = 0) -> bytes:
    """A sim65 file around hand-assembled machine code."""
    reset = load if reset is None else reset
    return (b"sim65" + bytes([2, cpu, 0x00]) + load.to_bytes(2, "little") + reset.to_bytes(2, "little")
            + code)


# --------------------------------------------------------------------------------------------------
# the C program in both emulators

@pytest.mark.parametrize("n", [0, 1, 45, 300])
def test_checksum_program_agrees_in_both_emulators(programs, n):
    rng = random.Random(n)
    data = bytes(rng.randrange(256) for _ in range(n))
    if n == 300:
        data = data[:-3] + b"\x80\x7f\xff"   # the extreme signed bytes
    expected_out, expected_code = _expected_checksum(data)
    sim = em.run_sim65(programs["checksum"], data)
    py = em.run_py65(programs["checksum"], data)
    assert sim.stdout == expected_out and sim.exit_code == expected_code
    assert py.stdout == expected_out and py.exit_code == expected_code
    # timing="sim65" copies sim65 2.18/2.19's branch timing: the counts agree to the cycle
    assert py.cycles == sim.cycles > 5000


def test_real_6502_timing_differs_from_sim65_by_little(programs):
    data = bytes(random.Random(5).randrange(256) for _ in range(100))
    sim = em.run_sim65(programs["checksum"], data)
    real = em.run_py65(programs["checksum"], data, timing="6502")
    assert real.stdout == sim.stdout and real.exit_code == sim.exit_code
    assert abs(real.cycles - sim.cycles) < 1e-3 * sim.cycles


def test_program_output_like_the_cycle_line_and_exit_code_126(programs):
    sim = em.run_sim65(programs["lookalike"])
    py = em.run_py65(programs["lookalike"])
    assert sim.stdout == py.stdout == b"7 cycles\nabc"
    assert sim.exit_code == py.exit_code == 126   # sim65's own timeout code, but a normal exit here
    assert sim.cycles == py.cycles


# --------------------------------------------------------------------------------------------------
# cycle accounting on hand-assembled code (no compiler needed)

def test_branch_straddling_a_page_costs_one_more_cycle_in_sim65(tmp_path):
    # $02FD LDA #$05; $02FF BNE +0 (taken, to $0301: no page crossed on a 6502, but the opcode's
    # page is $02); $0301 JMP exit -> exit code 5 after 2 + 4 cycles in sim65, 2 + 3 on a 6502
    path = tmp_path / "branch.bin"
    path.write_bytes(_raw(bytes([0xA9, 0x05, 0xD0, 0x00, 0x4C, 0xF9, 0xFF]), load=0x02FD))
    sim = em.run_sim65(path)
    assert (sim.exit_code, sim.cycles) == (5, 6)
    assert em.run_py65(path) == sim
    assert em.run_py65(path, timing="6502").cycles == 5


def test_dec_abs_takes_six_cycles_in_both(tmp_path):
    # DEC $0209; LDA $0209; JMP exit; .byte 8 -> exit code 7 after 6 + 4 cycles (py65 1.2.0 says DEC abs = 3)
    path = tmp_path / "dec.bin"
    path.write_bytes(_raw(bytes([0xCE, 0x09, 0x02, 0xAD, 0x09, 0x02, 0x4C, 0xF9, 0xFF, 0x08])))
    sim = em.run_sim65(path)
    assert (sim.exit_code, sim.cycles) == (7, 10)
    assert em.run_py65(path) == sim
    assert em.run_py65(path, timing="6502") == sim


def test_illegal_opcode_is_a_deploy_error_in_both(tmp_path):
    path = tmp_path / "illegal.bin"
    path.write_bytes(_raw(b"\xff"))
    with pytest.raises(DeployError, match=r"Illegal opcode \$FF at address \$0200"):
        em.run_sim65(path)
    with pytest.raises(DeployError, match=r"illegal opcode \$FF at address \$0200"):
        em.run_py65(path)


# --------------------------------------------------------------------------------------------------
# limits

def test_cycle_limit_is_a_deploy_error_in_both(programs):
    with pytest.raises(DeployError, match="cycle limit of 20000 reached.*Maximum number of cycles reached"):
        em.run_sim65(programs["loop"], max_cycles=20_000)
    with pytest.raises(DeployError, match="cycle limit of 20000 reached"):
        em.run_py65(programs["loop"], max_cycles=20_000)


def test_the_limit_is_exclusive_in_both(programs):
    run = em.run_sim65(programs["lookalike"])
    assert em.run_sim65(programs["lookalike"], max_cycles=run.cycles + 1) == run
    assert em.run_py65(programs["lookalike"], max_cycles=run.cycles + 1) == run
    with pytest.raises(DeployError, match="cycle limit"):
        em.run_sim65(programs["lookalike"], max_cycles=run.cycles)
    with pytest.raises(DeployError, match="cycle limit"):
        em.run_py65(programs["lookalike"], max_cycles=run.cycles)


def test_sim65_timeout_is_a_deploy_error(programs):
    with pytest.raises(DeployError, match="timed out"):
        em.run_sim65(programs["loop"], timeout=0.3)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_bad_max_cycles(tmp_path, bad):
    path = tmp_path / "p.bin"
    path.write_bytes(_raw(bytes([0x4C, 0xF9, 0xFF])))
    with pytest.raises(ConfigError, match="max_cycles"):
        em.run_py65(path, max_cycles=bad)
    with pytest.raises(ConfigError, match="max_cycles"):
        em.run_sim65(path, max_cycles=bad)


def test_bad_timing(tmp_path):
    path = tmp_path / "p.bin"
    path.write_bytes(_raw(bytes([0x4C, 0xF9, 0xFF])))
    with pytest.raises(ConfigError, match="timing"):
        em.run_py65(path, timing="65c02")


# --------------------------------------------------------------------------------------------------
# the header

def test_read_header_of_a_hand_made_file():
    header = em.read_header(_raw(b"\xea" * 10, load=0x1000, reset=0x1004))
    assert header == em.Sim65Header(version=2, cpu=0, sp_address=0, load_address=0x1000, reset_address=0x1004)


def test_read_header_of_a_cl65_build(programs):
    header = em.read_header(programs["checksum"].read_bytes())
    assert (header.version, header.cpu, header.load_address) == (2, 0, 0x0200)
    assert header.reset_address == 0x0200 and header.sp_address < 0x100


@pytest.mark.parametrize(("data", "match"), [
    (b"\x7fELF\x02\x01\x01" + bytes(20), "bad magic"),
    (b"", "truncated, 0 bytes"),
    (b"sim", "truncated, 3 bytes"),
    (b"sim65\x02\x00\x00\x00\x02\x00", "truncated, 11 bytes"),
    (b"sim65\x03\x00\x00\x00\x02\x00\x02", "header version 3"),
    (b"sim65\x02\x01\x00\x00\x02\x00\x02", "65C02"),
    (b"sim65\x02\x07\x00\x00\x02\x00\x02", "unknown CPU 7"),
    (b"sim65\x02\x00\x00\xf0\xff\xf0\xff" + bytes(5), "does not fit below the hooks at \\$FFF4"),
])
def test_read_header_rejects(data, match):
    with pytest.raises(DeployError, match=match):
        em.read_header(data)


def test_an_image_that_ends_at_fff3_fits():
    assert em.read_header(b"sim65\x02\x00\x00\xf0\xff\xf0\xff" + bytes(4)).load_address == 0xFFF0


def test_run_on_a_file_that_is_not_a_program(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, world\n")
    with pytest.raises(DeployError, match="notes.txt.*bad magic"):
        em.run_py65(path)
    with pytest.raises(DeployError, match="cannot read"):
        em.run_py65(tmp_path / "missing.bin")


# --------------------------------------------------------------------------------------------------
# the tools

def test_missing_tool_is_a_deploy_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeployError, match=r"sim65 not found on PATH: install the Debian package cc65 "
                                          r"\(apt-get install cc65; ./dev test does it\)"):
        em.require_tool("sim65")
    path = tmp_path / "p.bin"
    path.write_bytes(_raw(bytes([0x4C, 0xF9, 0xFF])))
    with pytest.raises(DeployError, match="sim65 not found on PATH"):
        em.run_sim65(path)
    assert em.run_py65(path) == em.EmulatorRun(stdout=b"", exit_code=0, cycles=0)   # py65 needs no tool


def test_require_tool_finds_sim65():
    assert em.require_tool("sim65") == shutil.which("sim65")
