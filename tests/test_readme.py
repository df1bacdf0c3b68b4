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


ROOT = README.parent


def test_links_in_the_readme_and_docs_resolve_inside_the_repository():
    for page in [README, *sorted((ROOT / "docs").rglob("*.md"))]:
        if "results" in page.relative_to(ROOT).parts and page.name != "summary.md":
            continue                       # study tables link only what their study wrote
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path = (page.parent / target).resolve()
            assert path.is_relative_to(ROOT), f"{page.name}: link {target} leaves the repository"
            assert path.exists(), f"{page.name}: broken link {target}"


def test_the_readme_cites_results_only_under_docs_results():
    cited = set(re.findall(r"docs/[\w./-]+", README.read_text()))
    allowed = ("docs/results/", "docs/design.md", "docs/telecom/")
    others = {c for c in cited if c != "docs/results" and not c.startswith(allowed)}
    assert not others, f"results cited outside docs/results: {sorted(others)}"
    for c in cited - {"docs/results/NAME/"}:          # NAME: the placeholder of the results section
        assert (ROOT / c.rstrip(".")).exists(), f"README cites {c}, which does not exist"
