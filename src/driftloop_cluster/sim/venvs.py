"""Virtual environments built from an image's requirements file, cached between runs.

Some images pin packages the main environment cannot hold (MLServer 1.7.1 pins an older
FastAPI; the MLflow server image adds psycopg2). Their processes run from a venv made from
the same requirements file the image installs, cached under ``~/.cache/driftloop-venvs``
(or ``$CLUSTER_SIM_VENV_CACHE``), one per file content.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


class VenvError(RuntimeError):
    """The venv could not be built (no network, no index, a failed install)."""


def cache_root() -> Path:
    """Where the venvs live."""
    configured = os.environ.get("CLUSTER_SIM_VENV_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "driftloop-venvs"


def _build(target: Path, requirements: Path, timeout_s: float) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, capture_output=True)
    python = target / "bin" / "python"
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if Path(uv).exists():
        cmd = [uv, "pip", "install", "--python", str(python), "-r", str(requirements)]
    else:
        cmd = [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout_s)


def image_venv(requirements: Path, *, timeout_s: float = 1500.0) -> Path:
    """A venv with ``requirements`` installed, built once per file content (under a lock:
    a venv cannot be moved, so it is built in place; a marker says it finished)."""
    text = requirements.read_bytes()
    digest = hashlib.sha256(text).hexdigest()[:16]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"{requirements.parent.name}-{digest}"
    done = venv / ".complete"
    with (root / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _build(venv, requirements, timeout_s)
        except (subprocess.SubprocessError, OSError) as err:
            shutil.rmtree(venv, ignore_errors=True)
            detail = str(getattr(err, "stderr", "") or "")[-500:]
            raise VenvError(f"cannot build a venv from {requirements}: {err}; {detail}") from err
        done.write_bytes(text)
    return venv
