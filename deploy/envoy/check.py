"""Checks an Envoy config against Envoy's own API schema, without Envoy.

The YAML is parsed into the v3 ``Bootstrap`` message of the generated
data-plane API (the PyPI package ``xds-protos``): an unknown or misspelled
field, a value of the wrong type, or a ``typed_config`` whose ``@type`` is
not an Envoy message fails, naming where. Every ``typed_config`` is resolved
and checked the same way.

Usage: python deploy/envoy/check.py deploy/envoy/envoy.yaml [...]
Exit status 0 when every file checks, 1 otherwise.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import yaml
from google.protobuf import json_format

import envoy
from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap


def load_envoy_messages() -> int:
    """Imports every generated Envoy module, so any ``@type`` resolves."""
    loaded = 0
    for module in pkgutil.walk_packages(envoy.__path__, "envoy."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)
            loaded += 1
    return loaded


def check(path: str) -> str | None:
    """The problem with the config at ``path``, or None when it checks."""
    try:
        with open(path, encoding="utf-8") as file:
            config = yaml.safe_load(file)
    except (OSError, yaml.YAMLError) as error:
        return f"cannot read: {error}"
    if not isinstance(config, dict):
        return "not a YAML mapping"
    try:
        json_format.ParseDict(config, Bootstrap())
    except json_format.ParseError as error:
        return str(error)
    return None


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    started = time.monotonic()
    modules = load_envoy_messages()
    failed = 0
    for path in paths:
        problem = check(path)
        if problem:
            failed += 1
            print(f"{path}: INVALID: {problem}", file=sys.stderr)
        else:
            print(f"{path}: valid Envoy v3 Bootstrap ({modules} API modules, {time.monotonic() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
