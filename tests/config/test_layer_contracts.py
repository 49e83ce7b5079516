"""The layer contracts of pyproject.toml (import-linter, run by `make lint`) bite: on a copy
of ``src/`` with forbidden imports put in, `lint-imports` fails and names each broken
contract; on the copy as it is, every contract is kept."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ..support.paths import ROOT

FORBIDDEN = {
    "driftloop/core/__init__.py": "import driftloop.cli.app",  # core reaching up to the CLI
    "driftloop/serve/__init__.py": "import driftloop_cluster",  # runtime using cluster tooling
}


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` in the copy at ``tree`` (it reads the pyproject.toml there; the copy's
    src/ comes first on the path, ahead of the installed package)."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run([exe, "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def contracts() -> list[dict[str, Any]]:
    """The contracts pyproject.toml declares."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["contracts"])


def contract_named(**match: str) -> str:
    """The name of the one contract whose settings are, or list, each value of ``match``."""

    def has(value: Any, wanted: str) -> bool:
        return value == wanted or (isinstance(value, list) and wanted in value)

    (name,) = [c["name"] for c in contracts() if all(has(c.get(k), v) for k, v in match.items())]
    return str(name)


def verdicts(output: str) -> dict[str, str]:
    """Each contract's name and KEPT or BROKEN, from the summary lines."""
    return {m[1]: m[2] for m in re.finditer(r"^(.+?) (KEPT|BROKEN)$", output, re.MULTILINE)}


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """src/ and pyproject.toml, copied."""
    shutil.copytree(ROOT / "src", tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_as_it_is_keeps_every_contract(tree: Path):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == {c["name"]: "KEPT" for c in contracts()}


def test_a_forbidden_import_breaks_its_contract_by_name(tree: Path):
    for module, line in FORBIDDEN.items():
        path = tree / "src" / module
        path.write_text(path.read_text() + f"\n{line}  # injected by the test\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    found = verdicts(result.stdout)
    assert found[contract_named(type="layers", layers="driftloop.cli")] == "BROKEN", found
    assert found[contract_named(forbidden_modules="driftloop_cluster")] == "BROKEN", found
    assert "driftloop.core -> driftloop.cli.app" in result.stdout
    assert "driftloop.serve -> driftloop_cluster" in result.stdout
