"""Shared test helpers: fixture paths and running the CLI in-process."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from authwatch.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines()]


def run_cli(*args: str, stdin: bytes | None = None) -> Run:
    """Run `authwatch ARGS` in this process, as the console script would."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        import sys

        saved = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin)))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:  # argparse
                code = e.code if isinstance(e.code, int) else 2
    finally:
        if stdin is not None:
            sys.stdin = saved
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    """Tests never see the developer's own configuration or state."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("AUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    if os.geteuid() == 0:
        # root's search path is /etc/authwatch: point tests at an explicit empty place instead
        monkeypatch.setattr("authwatch.config.ROOT_CONFIG", str(tmp_path / "etc-authwatch" / "config.yaml"))


@pytest.fixture(autouse=True)
def _no_system_geoip(tmp_path, monkeypatch):
    """Tests never find GeoIP databases installed on the machine, nor root's state."""
    monkeypatch.setattr("authwatch.enrich.geoip.SYSTEM_DIRS", [str(tmp_path / "system-geoip")])
    monkeypatch.setattr("authwatch.config.default_state_path", lambda: str(tmp_path / "default-state" / "authwatch" / "state.db"))
