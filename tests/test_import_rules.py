"""The package rules, read from the code with ast (nothing is imported): spaces and trackers import
nothing of ours; search and deploy never import each other; no module outside tests imports
another package's private (_name) module or name; benchmarks never import the tests."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"spaces", "search", "trackers", "deploy", "slimtune"}
LEAVES = {"spaces", "trackers"}


def violations(root: Path) -> tuple[list[str], set[tuple[str, str]]]:
    bad, edges = [], set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if {"tests", ".venv", "build"} & set(rel.parts):
            continue
        top = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            if isinstance(node, ast.Import):
                imports = [(alias.name, []) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imports = [(node.module, [alias.name for alias in node.names])]
            else:
                continue
            for module, names in imports:
                head = module.split(".")[0]
                if head in ("tests", "conftest", "support"):
                    bad.append(f"{rel}:{node.lineno} imports from the tests ({module})")
                if head not in OURS or head == top:
                    continue
                edges.add((top, head))
                if any(part.startswith("_") for part in module.split(".")[1:]):
                    bad.append(f"{rel}:{node.lineno} imports private module {module}")
                bad += [f"{rel}:{node.lineno} imports private name {module}.{n}"
                        for n in names if n.startswith("_")]
    bad += [f"package {a} imports {b}" for a, b in sorted(edges) if a in LEAVES]
    if {("search", "deploy"), ("deploy", "search")} & edges:
        bad.append("search and deploy import each other")
    return bad, edges


def test_the_package_rules_hold():
    bad, edges = violations(ROOT)
    assert bad == []
    assert ("slimtune", "search") in edges and ("slimtune", "deploy") in edges  # the rule can see


def test_the_checker_finds_a_private_import_and_a_cycle(tmp_path):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "search").mkdir()
    (tmp_path / "spaces").mkdir()
    (tmp_path / "deploy" / "a.py").write_text("from search._data import resolve\n")
    (tmp_path / "search" / "b.py").write_text("import deploy\n")
    (tmp_path / "spaces" / "c.py").write_text("from trackers import x\n")
    bad, _ = violations(tmp_path)
    assert "deploy/a.py:1 imports private module search._data" in bad
    assert "search and deploy import each other" in bad
    assert "package spaces imports trackers" in bad
