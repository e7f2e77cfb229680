"""check.py passes the real Envoy config and fails broken copies of it."""

from __future__ import annotations

from pathlib import Path

import pytest

import check

CONFIG = Path(__file__).with_name("envoy.yaml")


@pytest.fixture(scope="module", autouse=True)
def envoy_messages() -> None:
    assert check.load_envoy_messages() > 100


def test_the_real_config_checks() -> None:
    assert check.check(str(CONFIG)) is None


@pytest.mark.parametrize(
    ("original", "broken", "named"),
    [
        ("route: { cluster: ingest", "rout: { cluster: ingest", '"rout"'),
        ("allow_methods: POST, OPTIONS", "allow_methodz: POST, OPTIONS", '"allow_methodz"'),
        ("port_value: 50052", "port_value: fifty", "port_value"),
        (
            "v3.GrpcWeb",
            "v3.GrpcWebb",
            "GrpcWebb",
        ),
    ],
    ids=["misspelled field", "misspelled field in a typed_config", "wrong type", "unknown @type"],
)
def test_a_broken_copy_fails_naming_the_problem(tmp_path: Path, original: str, broken: str, named: str) -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert original in text
    copy = tmp_path / "envoy.yaml"
    copy.write_text(text.replace(original, broken, 1), encoding="utf-8")
    problem = check.check(str(copy))
    assert problem is not None and named in problem, problem
