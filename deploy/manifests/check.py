"""Checks the deployment manifests without a container runtime or cluster.

- ``deploy/compose/compose.yaml`` is parsed with YAML merge keys resolved
  and read by the Compose specification's strict model (the PyPI package
  ``compose-spec``): an unknown key, a wrong type or a bad duration fails.
- ``deploy/kubernetes/base``: every file the kustomization lists exists, and
  every resource in them validates against the Kubernetes OpenAPI schema of
  ``KUBERNETES_VERSION`` with unknown fields refused (``kubernetes-validate``);
  every ConfigMap and Secret a Deployment takes its environment from is
  defined there.
- Both: every ``BOOST_`` setting they name is one the README documents
  (a misspelled variable would be silently ignored by the services).

Usage: python deploy/manifests/check.py [ROOT]
Exit status 0 when everything checks, 1 otherwise (each problem printed).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

KUBERNETES_VERSION = "1.33.0"


def documented_settings(root: Path) -> set[str]:
    """Every ``BOOST_*`` or ``OTEL_*`` name in the README's tables."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"`((?:BOOST|OTEL)_[A-Z0-9_]+)`", readme))


def undocumented(names: Iterator[str], documented: set[str], where: str) -> list[str]:
    return [
        f"{where}: {name} is not a setting the README documents"
        for name in names
        if name.startswith("BOOST_") and name not in documented
    ]


def check_compose(path: Path, documented: set[str]) -> list[str]:
    from compose_spec import PyCompose

    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        PyCompose.from_json(json.dumps(document))
    except ValueError as error:
        return [f"{path}: {error}"]
    problems = []
    for name, service in document.get("services", {}).items():
        environment = service.get("environment") or {}
        problems += undocumented(iter(environment), documented, f"{path}: service {name}")
    return problems


def resources(base: Path) -> tuple[list[str], list[tuple[Path, dict[str, Any]]]]:
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text(encoding="utf-8"))
    problems: list[str] = []
    found = []
    for name in kustomization.get("resources", []):
        path = base / name
        if not path.is_file():
            problems.append(f"{base}/kustomization.yaml lists {name}, which does not exist")
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((path, document))
    listed = set(kustomization.get("resources", []))
    for path in sorted(base.glob("*.yaml")):
        if path.name != "kustomization.yaml" and path.name not in listed:
            problems.append(f"{path} is not listed in kustomization.yaml")
    return problems, found


def check_kubernetes(base: Path, documented: set[str]) -> list[str]:
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    problems, found = resources(base)
    defined = {(doc["kind"], doc["metadata"]["name"]) for _, doc in found}
    for path, document in found:
        where = f"{path}: {document.get('kind')} {document.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except ValidationError as error:
            problems.append(f"{where}: {error.message} at {'.'.join(map(str, error.path))}")
        except Exception as error:  # an unknown kind or apiVersion
            problems.append(f"{where}: {error}")
        if document.get("kind") == "ConfigMap":
            problems += undocumented(iter(document.get("data") or {}), documented, where)
        if document.get("kind") == "Secret":
            problems += undocumented(iter(document.get("stringData") or {}), documented, where)
        if document.get("kind") == "Deployment":
            for container in document["spec"]["template"]["spec"]["containers"]:
                for source in container.get("envFrom", []):
                    for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        if key in source and (kind, source[key]["name"]) not in defined:
                            problems.append(f"{where}: takes its environment from {kind} {source[key]['name']}, which is not defined")
                problems += undocumented((e["name"] for e in container.get("env", [])), documented, where)
    return problems


def check(root: Path) -> list[str]:
    """Every problem found in ``root``'s manifests (none: they check)."""
    documented = documented_settings(root)
    return check_compose(root / "deploy/compose/compose.yaml", documented) + check_kubernetes(
        root / "deploy/kubernetes/base", documented
    )


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"manifests check: compose.yaml against the Compose spec, kubernetes/base against Kubernetes {KUBERNETES_VERSION}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
