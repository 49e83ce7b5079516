"""Stand-ins for what cannot run here, each a real server.

- MinIO -> moto's S3 server (``moto_server``), and the ``minio-buckets`` Job's command
  semantics: every ``mc mb [--ignore-existing] store/<bucket>`` of its script creates that
  bucket through the Service, as the Job's pod would.
- PostgreSQL -> Debian's PostgreSQL (15 here), its own cluster in a temp folder, with the user,
  password and database of the StatefulSet's env (password authentication, as the
  ``postgres`` image sets it up), so the MLflow server connects with its own URL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path


def _pg_bin() -> Path:
    # $CLUSTER_SIM_PG_BIN, else the newest Debian/Ubuntu PostgreSQL (15 on Debian 12, 16 on
    # Ubuntu 24.04): the server is a stand-in for the postgres image, any recent major will do.
    configured = os.environ.get("CLUSTER_SIM_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
_MC_MB = re.compile(r"mc\s+mb\s+(?:--ignore-existing\s+)?(?:--\S+\s+)*\w+/([\w.-]+)")


class StandInError(RuntimeError):
    """A stand-in could not start."""


def moto_command(port: int) -> list[str]:
    """moto's S3 server on 127.0.0.1:port."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    return [exe, "-H", "127.0.0.1", "-p", str(port)]


def buckets_of_script(script: str) -> list[str]:
    """The buckets a MinIO client script makes (``mc mb ... alias/bucket``)."""
    return _MC_MB.findall(script)


def make_buckets(endpoint: str, buckets: list[str], user: str, password: str) -> None:
    """Create the buckets (existing ones are fine: ``--ignore-existing``)."""
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=user, aws_secret_access_key=password,
        region_name="us-east-1",
    )  # fmt: skip
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server's commands as the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def postgres_available() -> str | None:
    """None when PostgreSQL 15's binaries are here, else what is missing."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL at {PG_BIN} (apt-get install -y postgresql)"
    return None


def start_postgres(port: int, env: Mapping[str, str]) -> Path:
    """initdb with POSTGRES_USER/PASSWORD (scram), start on 127.0.0.1:port, create
    POSTGRES_DB. Its folder (returned) is a temp folder of its own: when run as root, the
    server runs as ``postgres``, which must own it and reach it."""
    problem = postgres_available()
    if problem:
        raise StandInError(problem)
    folder = Path(tempfile.mkdtemp(prefix="driftloop-sim-pg-"))
    pwfile = folder / "pw"
    pwfile.write_text(env["POSTGRES_PASSWORD"] + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    user = env["POSTGRES_USER"]
    steps = [
        [str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-U", user, "-A", "scram-sha-256",
         f"--pwfile={pwfile}"],
        [str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-o",
         f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "-w", "start"],
    ]  # fmt: skip
    for argv in steps:
        done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StandInError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-800:]}")
    create = [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user,
              env["POSTGRES_DB"]]  # fmt: skip
    done = subprocess.run(
        create, env={**os.environ, "PGPASSWORD": env["POSTGRES_PASSWORD"]},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise StandInError(f"createdb failed: {done.stderr.strip()}")
    return folder


def stop_postgres(folder: Path) -> None:
    """pg_ctl stop (fast)."""
    if (folder / "data" / "postmaster.pid").exists():
        argv = [str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres(argv), capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)
