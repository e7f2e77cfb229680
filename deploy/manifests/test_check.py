"""check.py passes the real manifests and fails broken copies of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import check

ROOT = Path(__file__).resolve().parents[2]


def copy_of_root(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "deploy/compose", tmp_path / "deploy/compose")
    shutil.copytree(ROOT / "deploy/kubernetes", tmp_path / "deploy/kubernetes")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def test_the_real_manifests_check() -> None:
    assert check.check(ROOT) == []


@pytest.mark.parametrize(
    ("file", "original", "broken", "named"),
    [
        ("deploy/compose/compose.yaml", "interval: 5s", "interval: 5 parsecs", "duration"),
        ("deploy/compose/compose.yaml", "    depends_on:", "    depend_on:", "depend_on"),
        ("deploy/compose/compose.yaml", "BOOST_INGEST_ACK_TIMEOUT_MS", "BOOST_INGEST_ACK_TIMEOUT", "BOOST_INGEST_ACK_TIMEOUT "),
        ("deploy/kubernetes/base/auth.yaml", "readinessProbe", "readinesProbe", "readinesProbe"),
        ("deploy/kubernetes/base/query.yaml", "replicas: 2", "replicas: two", "spec.replicas"),
        (
            "deploy/kubernetes/base/edge.yaml",
            "configMapRef:\n                name: boost-edge\n",
            "configMapRef:\n                name: boost-edg\n",
            "ConfigMap boost-edg,",
        ),
        ("deploy/kubernetes/base/kustomization.yaml", "  - edge.yaml\n", "  - egde.yaml\n", "egde.yaml"),
    ],
    ids=[
        "compose: bad duration",
        "compose: misspelled key",
        "compose: undocumented setting",
        "kubernetes: misspelled field",
        "kubernetes: wrong type",
        "kubernetes: undefined ConfigMap",
        "kubernetes: missing resource file",
    ],
)
def test_a_broken_copy_fails_naming_the_problem(tmp_path: Path, file: str, original: str, broken: str, named: str) -> None:
    root = copy_of_root(tmp_path)
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert original in text
    path.write_text(text.replace(original, broken, 1), encoding="utf-8")
    problems = check.check(root)
    assert any(named in problem for problem in problems), problems
