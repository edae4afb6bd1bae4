"""Helpers shared by the e2e and browser fixtures and by bench/: `manage.py` in a child
process, and throwaway Postgres databases (created from a template, dropped after)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


def run_manage(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run `manage.py args` with exactly `env`; its stdout, or RuntimeError with both outputs."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def with_db_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _pg_admin(url: str):
    import psycopg

    return psycopg.connect(with_db_name(url, "postgres"), autocommit=True, connect_timeout=5)


def pg_recreate(url: str, name: str, template: str | None = None) -> None:
    """(Re)create database `name` on `url`'s server, as a copy of `template` if given."""
    with _pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{suffix}')


def pg_drop(url: str, name: str) -> None:
    with _pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
