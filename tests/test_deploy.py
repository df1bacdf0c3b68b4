"""Deployment: model files, the integer reference, the C export (compiled here) and the 6502 build (cc65, sim65, py65).

cc65 is installed by the project's set-up (``./dev test``); these tests need it and fail, naming it, without it.
"""

from __future__ import annotations

import re
import subprocess
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from qiml.cli import app
from qiml.deploy import integer_reference, lattice_scales, load_model, save_model
from qiml.deploy.c_export import compile_c, export_c, run_program
from qiml.deploy.emulators import run_sim65
from qiml.deploy.m6502 import CLOCK_HZ, build_6502, read_segments
from qiml.engine import checkpoint
from qiml.errors import ConfigError, DeployError, ModelFileError
from qiml.nn import MLP
from qiml.nn.mlp import quantize


def lattice_net(sizes=(196, 12, 8, 10), activation="tanh", bound=1.0, seed=0):
    """A network on the int8 lattice of ``bound``, as QiML's ``bits=8`` training leaves it."""
    net = MLP(sizes, activation)
    space = net.space(bound, bits=8)
    return net, space.snap(net.init(np.random.default_rng(seed)))


def int8_inputs(n, n_in, seed=1):
    return np.random.default_rng(seed).integers(-127, 128, (n, n_in)).astype(np.int8)


def python_logits(ref, xq):
    """The integer reference's arithmetic again, one sample at a time in Python ints (an independent check)."""
    a = [int(v) for v in xq]
    for i, layer in enumerate(ref.layers):
        acc = [sum(x * int(w) for x, w in zip(a, row, strict=True)) + int(b)
               for row, b in zip(layer.weights, layer.bias, strict=True)]
        if i == len(ref.layers) - 1:
            return acc
        a = [int(layer.tables[layer.table_of[j], min(max(v // 2**layer.shift, -128), 127) + 128])
             for j, v in enumerate(acc)]


# ----------------------------------------------------------------------------- model files
def test_a_model_file_round_trips(tmp_path):
    net, theta = lattice_net((6, 3, 2))
    path = save_model(tmp_path / "m.npz", net, theta, scales=lattice_scales(net, theta, 1.0), input_range=2.0,
                      metadata={"trainer": "qiml"})
    m = load_model(path)
    assert m.net.layer_sizes == net.layer_sizes and np.array_equal(m.theta, theta)
    assert np.allclose(m.scales, 1.0 / 127) and m.input_range == 2.0 and m.metadata == {"trainer": "qiml"}
    mixed = MLP((4, 3, 2), [["tanh", "relu", "step"]])
    m2 = load_model(save_model(tmp_path / "f.npz", mixed, np.arange(mixed.n_params) / 10.0))
    assert m2.scales is None and [a.names for a in m2.net.activations] == [["tanh", "relu", "step"]]


def test_bad_model_files_are_refused_by_name(tmp_path):
    net, theta = lattice_net((4, 3, 2))
    with pytest.raises(ModelFileError, match="no model file at"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ModelFileError, match="corrupt or not a qiml model file"):
        load_model(tmp_path / "junk.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a qiml model file"):
        load_model(tmp_path / "foreign.npz")
    checkpoint.save({"x": np.zeros(2), "nit": 1}, tmp_path / "run.ckpt.npz")
    with pytest.raises(ModelFileError, match="format 'qiml-checkpoint-1', expected 'qiml-model-1'"):
        load_model(tmp_path / "run.ckpt.npz")
    good = save_model(tmp_path / "good.npz", net, theta)
    data = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "cut.npz")
    # a header that lies about the architecture, and weights off the declared lattice
    bad = checkpoint.load(good, format="qiml-model-1")
    checkpoint.save({**bad, "architecture": {"type": "MLP", "layer_sizes": [4, 5, 2], "activations": [["tanh"] * 5]}},
                    tmp_path / "lies.npz", format="qiml-model-1")
    with pytest.raises(ModelFileError, match="theta must be 37 finite numbers"):
        load_model(tmp_path / "lies.npz")
    checkpoint.save({**bad, "quantization": {"bits": 8, "scales": [0.3, 0.3]}}, tmp_path / "off.npz",
                    format="qiml-model-1")
    with pytest.raises(ModelFileError, match="not on its int8 lattice"):
        load_model(tmp_path / "off.npz")
    np.savez_compressed(tmp_path / "bomb.npz", theta=np.zeros(2**23 + 8), __meta__=np.array("{}"))  # 64 MiB + 64 B
    with pytest.raises(ModelFileError, match="more than this model file can hold"):
        load_model(tmp_path / "bomb.npz")
    with zipfile.ZipFile(good) as zf:
        assert sorted(zf.namelist()) == ["__meta__.npy", "theta.npy"]     # arrays and a JSON string, no pickle


def test_saving_checks_its_arguments(tmp_path):
    net, theta = lattice_net((4, 3, 2))
    with pytest.raises(ConfigError, match="not on its int8 lattice"):
        save_model(tmp_path / "m.npz", net, theta + 1e-3, scales=[1 / 127, 1 / 127])
    with pytest.raises(ConfigError, match="input_range"):
        save_model(tmp_path / "m.npz", net, theta, input_range=0.0)
    with pytest.raises(ModelFileError, match="it is a directory"):
        save_model(tmp_path, net, theta)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- the integer reference
def test_the_integer_reference_is_the_stated_arithmetic():
    net = MLP((9, 5, 4, 3), [["tanh", "relu", "sine", "step", "identity"], "sigmoid"])
    theta = net.init(np.random.default_rng(2)) * 2
    ref = integer_reference(net, theta)
    xq = int8_inputs(40, 9)
    assert np.array_equal(ref.logits_int(xq), np.array([python_logits(ref, x) for x in xq]))


def test_integer_predictions_follow_the_float_network():
    net, theta = lattice_net((20, 12, 8, 4), bound=1.5)
    X = np.random.default_rng(3).uniform(-1, 1, (2000, 20))
    ref = integer_reference(net, theta, bound=1.5)
    # the lattice is taken as it is: the same integers as the scales given outright
    assert all(np.array_equal(a.weights, b.weights) for a, b in
               zip(ref.layers, integer_reference(net, theta, scales=[1.5 / 127] * 3).layers, strict=True))
    agree = np.mean(ref.predict(X) == net.forward(X, theta).argmax(axis=1))
    assert agree > 0.95, agree
    with pytest.raises(ConfigError, match="not on its int8 lattice"):
        integer_reference(net, theta, bound=1.0)
    tq, _ = quantize(net, theta + 0.001)     # no bound: post-training quantization of a float network
    assert np.mean(integer_reference(net, theta + 0.001).predict(X) == net.forward(X, tq).argmax(axis=1)) > 0.95


def test_an_accumulator_that_could_overflow_is_refused():
    net, theta = lattice_net((4, 3, 2))
    with pytest.raises(ConfigError, match="could overflow the 32-bit accumulator"):
        integer_reference(net, theta, bound=1.0, input_range=1e-9)


# ----------------------------------------------------------------------------- portable C
@pytest.mark.parametrize("sizes, activation", [
    ((196, 12, 8, 10), "tanh"),
    ((9, 5, 4, 6, 3), [["tanh", "relu", "sine", "step", "identity"], "sigmoid", ["gaussian", "sign", "hard_tanh",
                                                                                   "staircase", "tanh", "relu"]]),
    ((5, 3), []),                                          # no hidden layer: a linear classifier
])
def test_the_c_export_compiles_and_is_bit_exact(tmp_path, sizes, activation):
    net = MLP(sizes, activation)
    theta = net.init(np.random.default_rng(4)) * 3
    ref = integer_reference(net, theta)
    h, c = export_c(ref, tmp_path)
    text = re.sub(r"/\*.*?\*/", "", c.read_text(), flags=re.S)      # the code, without its comments
    assert "float" not in text and "double" not in text and "malloc" not in text and "static const int8_t W0" in text
    x = int8_inputs(300, sizes[0])
    logits = run_program(compile_c(tmp_path, logits=True), x, logits=True, n_outputs=sizes[-1])
    assert np.array_equal(logits, ref.logits_int(x))
    assert np.array_equal(run_program(compile_c(tmp_path), x), ref.predict_int(x))
    # C89-clean too, which is how cc65 takes the same file
    subprocess.run(["cc", "-std=c89", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c", str(c), "-o",
                    str(tmp_path / "c89.o")], check=True)


# ----------------------------------------------------------------------------- the 6502
DOT_HARNESS = r"""
#include <stdint.h>
#include <unistd.h>
int32_t qiml_dot(const int8_t *a, const int8_t *w, uint16_t n);
static int8_t a[700], w[700];
int main(void) {
    unsigned char hdr[2], out[4];
    uint16_t n, got; int r; int32_t s; uint8_t k;
    for (;;) {
        if (read(0, (char *)hdr, 2) != 2) return 0;
        n = hdr[0] | ((uint16_t)hdr[1] << 8);
        for (got = 0; got < n; got += r) { r = read(0, (char *)a + got, n - got); if (r <= 0) return 2; }
        for (got = 0; got < n; got += r) { r = read(0, (char *)w + got, n - got); if (r <= 0) return 2; }
        s = qiml_dot(a, w, n);
        for (k = 0; k < 4; ++k) out[k] = (unsigned char)(((uint32_t)s >> (8 * k)) & 0xFF);
        write(1, out, 4);
    }
}
"""


def test_the_assembly_dot_product_is_exact(tmp_path):
    """The quarter-square loop against NumPy: extremes, every length class (0, < 256, a page, across pages)."""
    from importlib import resources
    (tmp_path / "h.c").write_text(DOT_HARNESS)
    (tmp_path / "qiml_dot.s").write_text(resources.files("qiml.deploy").joinpath("qiml_dot.s").read_text())
    subprocess.run(["cl65", "-t", "sim6502", "-O", "-o", "h.sim", "h.c", "qiml_dot.s"], cwd=tmp_path, check=True)
    rng = np.random.default_rng(5)
    cases = [np.full((2, n), v, np.int8) for n, v in ((196, 127), (196, -128), (700, -128))]
    cases += [np.stack([np.full(300, 127, np.int8), np.full(300, -128, np.int8)])]
    cases += [rng.integers(-128, 128, (2, n)).astype(np.int8) for n in (0, 1, 2, 37, 255, 256, 257, 511, 512, 600)]
    stdin = b"".join(len(c[0]).to_bytes(2, "little") + c[0].tobytes() + c[1].tobytes() for c in cases)
    run = run_sim65(tmp_path / "h.sim", stdin)
    got = np.frombuffer(run.stdout, "<i4")
    assert got.tolist() == [int(np.dot(c[0].astype(np.int64), c[1].astype(np.int64))) for c in cases]


def test_the_6502_program_matches_the_reference_in_both_emulators(tmp_path):
    net, theta = lattice_net()
    program = build_6502(net, theta, tmp_path / "asm", bound=1.0)
    X = np.random.default_rng(6).uniform(0, 1, (150, 196)) ** 3          # image-like: mostly dark, in [0, 1]
    expected = program.reference.predict(X)
    assert np.array_equal(program.predict(X), expected)
    assert np.array_equal(program.predict(X[:3], emulator="py65"), expected[:3])
    # the seed's bounds, and what the build reports
    assert program.program_bytes < 15 * 1024 and program.ram_bytes < 35 * 1024
    assert program.data_bytes > 2558 > program.code_bytes > 500
    assert program.program_bytes == (tmp_path / "asm" / "qiml.sim").stat().st_size - 12
    assert 2e5 < program.cycles_per_sample < 6e5
    assert program.seconds_per_sample == pytest.approx(program.cycles_per_sample / CLOCK_HZ)
    # cc65's own C loop computes the same, slower
    plain = build_6502(program.reference, out_dir=tmp_path / "c", asm=False, calibrate=0)
    assert np.array_equal(plain.predict(X[:4]), expected[:4])
    assert plain.cycles_per_sample > 3 * program.cycles_per_sample


def test_a_wide_first_layer_crosses_pages_in_the_6502_loop(tmp_path):
    net, theta = lattice_net((300, 3, 4), activation="relu", seed=7)
    program = build_6502(net, theta, tmp_path, bound=1.0, calibrate=0)
    x = int8_inputs(30, 300)
    assert np.array_equal(program.run(x)[0], program.reference.predict_int(x))


def test_map_segments_and_bad_arguments(tmp_path):
    text = ("Segment list:\n-------------\nName                   Start     End    Size  Align\n"
            "----------------------------------------------------\n"
            "CODE                  000229  000A36  00080E  00001\n"
            "RODATA                000A37  0016C9  000C93  00001\n\n"
            "Exports list by name:\n")
    assert read_segments(text) == {"CODE": 0x80E, "RODATA": 0xC93}
    with pytest.raises(DeployError, match="no segment list"):
        read_segments("nothing here")
    net, theta = lattice_net((4, 3, 2))
    program = build_6502(net, theta, tmp_path, bound=1.0, calibrate=0)
    with pytest.raises(ConfigError, match="emulator must be"):
        program.run(int8_inputs(1, 4), emulator="vice")
    with pytest.raises(ConfigError, match="int8 of shape"):
        program.run(np.zeros((1, 4)))


# ----------------------------------------------------------------------------- the command line
def test_the_deploy_commands(tmp_path):
    net, theta = lattice_net((16, 6, 3))
    model = save_model(tmp_path / "m.npz", net, theta, scales=lattice_scales(net, theta, 1.0))
    runner = CliRunner()
    res = runner.invoke(app, ["deploy", "c", str(model), "--out", str(tmp_path / "c"), "--driver"])
    assert res.exit_code == 0, res.output
    assert "logits identical to the reference" in " ".join(res.output.split())     # Rich wraps long lines
    assert {p.name for p in (tmp_path / "c").iterdir()} == {"qiml_model.h", "qiml_model.c", "qiml_main.c"}
    res = runner.invoke(app, ["deploy", "6502", str(model), "--out", str(tmp_path / "m6502"), "--check", "2",
                              "--atari"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m6502" / "atari" / "qiml.xex").is_file()
    assert "sim65 and py65 agree with the reference on 2 seeded samples" in " ".join(res.output.split())
    (tmp_path / "bad.npz").write_bytes(b"PK junk")
    res = runner.invoke(app, ["deploy", "6502", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "corrupt or not a qiml model file" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_a_fitted_estimator_deploys_with_its_classes(tmp_path):
    from qiml.sklearn import QiMLClassifier

    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, (120, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = QiMLClassifier((4,), bits=8, bound=1.0, max_iter=3, random_state=0).fit(X, y)
    saved = load_model(save_model(tmp_path / "clf.npz", clf))
    assert saved.metadata["classes"] == ["no", "yes"] and saved.metadata["estimator"] == "QiMLClassifier"
    ref = integer_reference(saved)                   # on the estimator's own lattice: no rounding
    assert ref.layer_sizes[-1] == 1                  # binary: one logit, class 1 when it is > 0
    assert np.mean(np.array(saved.metadata["classes"])[ref.predict(X)] == clf.predict(X)) > 0.95
    export_c(ref, tmp_path / "c")
    x = ref.quantize_inputs(X)
    assert np.array_equal(run_program(compile_c(tmp_path / "c"), x), ref.predict_int(x))


def test_the_atari_800_executable_runs_in_atari800(tmp_path):
    """The same network as an Atari 800 program, in Debian's atari800 (headless, NTSC, AltirraOS): the
    reference's classes, and the real machine's time per digit above the bare 6502's (display DMA)."""
    from qiml.deploy.atari import build_atari

    net, theta = lattice_net()
    ref = integer_reference(net, theta, bound=1.0)
    program = build_atari(ref, tmp_path)
    assert program.xex.read_bytes()[:2] == b"\xff\xff" and program.file_bytes < 15 * 1024
    x = ref.quantize_inputs(np.random.default_rng(9).uniform(0, 1, (4, 196)) ** 3)
    classes, seconds = program.run(x, timeout=120)
    assert np.array_equal(classes, ref.predict_int(x))
    assert 0.2 < seconds < 0.6, seconds            # sim65: about 0.19 s of 6502 cycles at 1.79 MHz
