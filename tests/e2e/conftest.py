"""End-to-end fixtures: ONE shared lab (real sshd + rsyslog + journald in a
private mount namespace, see lab.py) for the whole test session, and the
rule for what cannot run here.

Tests that need root or system packages skip with the reason when those are
missing, except in CI (CI=true), where .ci/run installs them and runs as
root: there a missing piece is a failure, never a silent skip.

Later issues extend the same `lab` fixture (a PAM hook, the journal source)
rather than starting daemons of their own.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.e2e.lab import Lab


def unavailable(reason: str) -> None:
    """Skip (on a developer's machine) or fail (in CI) because of `reason`."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


def need_programs(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None and not os.path.exists(f"/usr/sbin/{n}")]
    if missing:
        unavailable(f"missing: {', '.join(missing)} (apt-get install {' '.join(missing)})")


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """The running lab: sshd at LogLevel VERBOSE on 127.0.0.1, rsyslog writing
    auth.log (RFC 3339), auth-classic.log and auth-5424.log."""
    why = Lab.missing()
    if why:
        unavailable(why)
    with Lab(tmp_path_factory.mktemp("lab"), loglevel="VERBOSE") as running:
        yield running
