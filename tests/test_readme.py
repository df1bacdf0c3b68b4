"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)            # the ask/tell example writes a checkpoint
    namespace: dict = {}
    for code in blocks:                    # later blocks use names defined by earlier ones
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["res"].fun < 1e-6     # Rastrigin 10-D, 20 000 evaluations
    assert (tmp_path / "run.ckpt.npz").exists()
    assert namespace["fp"].fun < 0.5 * namespace["y"].var()      # the network example learned something
