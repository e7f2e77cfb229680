"""Fixtures: a private Boost stack (the test kit's ``boost-test-stack``
binary: its own database, Redis database and broker, every service on a
loopback port) and a fresh project with a key per test."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from boost.auth.v1 import auth_pb2, auth_pb2_grpc
from boost.config import grpc_target

ROOT = Path(__file__).resolve().parents[4]
STACK_BIN = Path(os.environ.get("BOOST_TEST_STACK_BIN", ROOT / "target/debug/boost-test-stack"))


@dataclass(frozen=True)
class RunningStack:
    """The running stack's addresses and operator token."""

    env: dict[str, str]

    def url(self, name: str) -> str:
        """``BOOST_<NAME>_URL``, e.g. ``url("ingest")``."""
        return self.env[f"BOOST_{name.upper()}_URL"]

    def new_key(self, scopes: tuple[str, ...] = ("events:write", "events:read")) -> str:
        """A new organisation, project and API key; returns the key's secret."""
        admin = (("x-admin-token", self.env["BOOST_ADMIN_TOKEN"]),)
        with grpc.insecure_channel(grpc_target(self.url("auth"))) as channel:
            auth = auth_pb2_grpc.AuthServiceStub(channel)
            org = auth.CreateOrganization(
                auth_pb2.CreateOrganizationRequest(name=f"sdk-{uuid.uuid4()}"), metadata=admin
            ).organization
            project = auth.CreateProject(
                auth_pb2.CreateProjectRequest(organization_id=org.id, name="sdk-test"), metadata=admin
            ).project
            key = auth.CreateApiKey(
                auth_pb2.CreateApiKeyRequest(project_id=project.id, name="sdk", scopes=list(scopes)),
                metadata=admin,
            )
            return str(key.secret)


def start_stack(binary: Path) -> tuple[subprocess.Popen[str], RunningStack]:
    """Starts `boost-test-stack` and reads its KEY=VALUE lines up to READY;
    the stack runs until the process's standard input is closed."""
    process = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    env: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        line = line.strip()
        if line == "READY":
            return process, RunningStack(env)
        key, _, value = line.partition("=")
        env[key] = value
    raise RuntimeError(f"boost-test-stack exited ({process.wait()}) before it was ready")


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    if not STACK_BIN.exists():
        pytest.fail(
            f"{STACK_BIN} is missing: build it with `cargo build -p boost-testkit --bin boost-test-stack` "
            "(make test does), or set BOOST_TEST_STACK_BIN"
        )
    process, running = start_stack(STACK_BIN)
    try:
        yield running
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def key(stack: RunningStack) -> str:
    """A fresh project's key with events:write and events:read."""
    return stack.new_key()
