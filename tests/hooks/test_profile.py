"""The profile hook's lines: where `authwatch profile install` puts them (never
a new ~/.bash_profile), idempotent with a backup; and what they do when a
real shell reads them: one ~/.ssh_logins line per SSH login, compatible with
the files such hooks already write, and authwatch started in the background
without delaying the prompt."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from authwatch import profile
from authwatch.errors import UserError
from authwatch.parse.sshlogins import LoginsParser
from tests.conftest import REPO
from tests.e2e.conftest import need_programs
from tests.hooks import keys

NOW = datetime(2026, 11, 22, 16, 30)
CMD = ["/opt/python 3/bin/python3", "-m", "authwatch"]  # a hosting's own Python, with a space in its path


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.mark.parametrize("present, chosen", [
    ((), ".profile"),
    ((".profile",), ".profile"),
    ((".bash_login", ".profile"), ".bash_login"),
    ((".bash_profile", ".bash_login", ".profile"), ".bash_profile"),
])
def test_the_lines_go_to_the_file_a_login_shell_reads(home, present, chosen):
    for name in present:
        (home / name).write_text(f"# {name}\n")
    change = profile.install(home, CMD, NOW)
    assert change.file == home / chosen and change.changed
    assert profile.BEGIN in (home / chosen).read_text()
    if ".bash_profile" not in present:
        assert not (home / ".bash_profile").exists()  # it would stop bash reading ~/.profile
    assert (home / ".ssh_logins").exists() and (home / ".ssh_logins").stat().st_mode & 0o777 == 0o600


def test_installing_again_changes_nothing_and_a_new_command_is_updated_in_place_with_a_backup(home):
    before = "# mine\nexport EDITOR=vi\n"
    (home / ".profile").write_text(before)
    os.chmod(home / ".profile", 0o640)
    first = profile.install(home, CMD, NOW)
    assert first.backup.read_text() == before and first.backup.name == ".profile.authwatch-backup-20261122-163000"
    installed = (home / ".profile").read_text()
    assert installed.startswith(before + "\n" + profile.BEGIN)
    again = profile.install(home, CMD, NOW)
    assert (again.changed, again.backup) == (False, None)
    assert (home / ".profile").read_text() == installed
    (home / ".profile").write_text(installed + "# after\n")
    moved = profile.install(home, ["/usr/bin/python3", "-m", "authwatch"], NOW)
    text = (home / ".profile").read_text()
    assert moved.changed and moved.backup != first.backup and moved.backup.read_text() == installed + "# after\n"
    assert text.count(profile.BEGIN) == 1 and "/usr/bin/python3" in text and "/opt/python" not in text
    assert text.startswith(before) and text.endswith(profile.END + "\n# after\n")
    assert (home / ".profile").stat().st_mode & 0o777 == 0o640


def test_a_profile_kept_as_a_link_stays_one(home, tmp_path):
    real = tmp_path / "dotfiles" / "profile"
    real.parent.mkdir()
    real.write_text("# managed\n")
    (home / ".profile").symlink_to(real)
    profile.install(home, CMD, NOW)
    assert (home / ".profile").is_symlink() and profile.BEGIN in real.read_text()


def test_half_a_block_is_refused_and_the_file_left_alone(home):
    (home / ".profile").write_text(f"{profile.BEGIN}\necho half\n")
    with pytest.raises(UserError, match="one of authwatch's marker lines"):
        profile.install(home, CMD, NOW)
    assert (home / ".profile").read_text() == f"{profile.BEGIN}\necho half\n"


def test_uninstall_gives_back_the_file_as_it_was(home):
    (home / ".bash_profile").write_text("# mine\n")
    profile.install(home, CMD, NOW)
    (change,) = profile.uninstall(home, NOW.replace(minute=31))
    assert change.changed and (home / ".bash_profile").read_text() == "# mine\n"
    assert profile.BEGIN in change.backup.read_text()
    assert profile.uninstall(home, NOW) == []


def test_uninstall_takes_the_lines_out_of_every_file_an_install_put_them_in(home):
    (home / ".profile").write_text("# mine\n")
    profile.install(home, CMD, NOW)  # into ~/.profile
    (home / ".bash_profile").write_text(". ~/.profile\n")  # made later
    profile.install(home, CMD, NOW)  # into ~/.bash_profile too
    removed = profile.uninstall(home, NOW.replace(minute=31))
    assert sorted(c.file.name for c in removed) == [".bash_profile", ".profile"]
    assert (home / ".profile").read_text() == "# mine\n" and (home / ".bash_profile").read_text() == ". ~/.profile\n"


@pytest.mark.parametrize("shell, present, chosen", [
    ("/bin/sh", (".bash_profile",), ".profile"),  # sh never reads ~/.bash_profile
    ("/usr/bin/dash", (), ".profile"),
    ("/bin/ksh", (".profile",), ".profile"),
    ("/usr/bin/zsh", (".profile",), ".zprofile"),  # zsh reads ~/.zprofile, not ~/.profile
])
def test_the_file_is_the_one_the_users_login_shell_reads(home, shell, present, chosen):
    for name in present:
        (home / name).write_text(f"# {name}\n")
    assert profile.install(home, CMD, NOW, shell).file == home / chosen
    assert profile.BEGIN in (home / chosen).read_text()
    for name in set(present) - {chosen}:
        assert (home / name).read_text() == f"# {name}\n"


def test_a_login_shell_that_reads_no_posix_shell_is_refused(home):
    with pytest.raises(UserError, match="fish"):
        profile.install(home, CMD, NOW, "/usr/bin/fish")
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("make", [
    lambda p: p.mkdir(),
    lambda p: p.symlink_to("/nonexistent/logins"),
    lambda p: os.mkfifo(p),
])
def test_a_logins_file_that_is_no_regular_file_is_refused(home, make):
    make(home / ".ssh_logins")
    with pytest.raises(UserError, match=r"\.ssh_logins: (not a regular file|cannot open)"):
        profile.install(home, CMD, NOW)
    assert not (home / ".profile").exists()


def test_the_shipped_example_is_what_install_writes():
    shipped = (REPO / "contrib" / "profile" / "authwatch-profile.sh").read_text()
    assert shipped.endswith(profile.snippet(["/usr/bin/python3", "-m", "authwatch"]))


# -- the lines, read by real shells ---------------------------------------------------


def run_profile(shell: str, home: Path, env: dict[str, str]) -> float:
    need_programs(shell)
    t0 = time.monotonic()
    subprocess.run([shell, "-c", ". ./.profile"], cwd=home, env={"HOME": str(home), "PATH": "/usr/bin:/bin",
                   "USER": "alice"} | env, check=True, timeout=20, stdin=subprocess.DEVNULL)
    return time.monotonic() - t0


def background_command(home: Path, seconds: float = 0.0) -> list[str]:
    """A stand-in for authwatch that notes how it was started."""
    fake = home / "fake-authwatch"
    fake.write_text(f"#!/bin/sh\nsleep {seconds}\necho \"$*\" >> {home}/started\n")
    fake.chmod(0o755)
    return [str(fake)]


@pytest.mark.parametrize("shell", ["sh", "bash", "zsh"])
def test_an_ssh_login_appends_one_line_that_reads_back_with_the_key(home, tmp_path, shell):
    key = keys.make(tmp_path, "ed25519")
    auth = tmp_path / "sshauth.XYZ"
    auth.write_text(f"publickey {key.line}\n")
    profile.install(home, background_command(home), NOW)
    run_profile(shell, home, {"SSH_CONNECTION": "203.0.113.5 50022 192.0.2.1 22", "SSH_USER_AUTH": str(auth)})
    line = (home / ".ssh_logins").read_text()
    assert line.count("\n") == 1
    words = line.split()  # what the existing readers of ~/.ssh_logins take: date time zone ip user method
    assert words[3:6] == ["203.0.113.5", "alice", "publickey"]
    (e,) = LoginsParser("web1", timezone.utc).parse_block(line.rstrip("\n"), 1)
    assert (e.ip, e.port, e.user, e.method, e.key, e.key_type) == \
        ("203.0.113.5", 50022, "alice", "publickey", key.fingerprint, "ED25519")
    assert abs((datetime.now(timezone.utc) - e.time).total_seconds()) < 60
    for _ in range(100):
        if (home / "started").exists():
            break
        time.sleep(0.05)
    assert (home / "started").read_text() == "scan --user\n"


def test_without_expose_auth_info_the_method_is_unknown_and_factors_are_joined(home, tmp_path):
    profile.install(home, background_command(home), NOW)
    run_profile("sh", home, {"SSH_CONNECTION": "203.0.113.5 50022 192.0.2.1 22"})
    auth = tmp_path / "sshauth"
    auth.write_text("publickey ssh-ed25519 AAAA\npassword\n")
    run_profile("sh", home, {"SSH_CONNECTION": "203.0.113.5 50023 192.0.2.1 22", "SSH_USER_AUTH": str(auth)})
    methods = [line.split()[5] for line in (home / ".ssh_logins").read_text().splitlines()]
    assert methods == ["unknown", "publickey+password"]


def test_nothing_is_recorded_outside_ssh_or_again_in_a_shell_the_login_started(home):
    profile.install(home, background_command(home), NOW)
    run_profile("sh", home, {})  # a console login, su -, cron with a login shell
    run_profile("sh", home, {"SSH_CONNECTION": "203.0.113.5 50022 192.0.2.1 22",
                             "AUTHWATCH_SEEN": "203.0.113.5 50022 192.0.2.1 22"})  # tmux, screen, bash -l
    assert (home / ".ssh_logins").read_text() == ""


def test_a_window_opened_after_reattaching_from_another_connection_is_not_a_new_login(home):
    profile.install(home, background_command(home), NOW)
    first, second = "203.0.113.5 50022 192.0.2.1 22", "198.51.100.7 40022 192.0.2.1 22"
    run_profile("sh", home, {"SSH_CONNECTION": first})  # logs in, starts tmux
    run_profile("sh", home, {"SSH_CONNECTION": second})  # logs in from elsewhere, re-attaches
    for _ in range(2):  # new windows: tmux gives them the new SSH_CONNECTION, the old AUTHWATCH_SEEN
        run_profile("sh", home, {"SSH_CONNECTION": second, "AUTHWATCH_SEEN": first})
    run_profile("sh", home, {"SSH_CONNECTION": "198.51.100.7 40023 192.0.2.1 22"})  # a new connection is
    ports = [line.split()[6] for line in (home / ".ssh_logins").read_text().splitlines()]
    assert ports == ["port=50022", "port=40022", "port=40023"]


def test_a_logins_file_made_again_by_the_lines_is_the_users_alone(home):
    profile.install(home, background_command(home), NOW)
    (home / ".ssh_logins").unlink()  # rotated or deleted by the user
    os.umask(old := os.umask(0o022))
    try:
        run_profile("sh", home, {"SSH_CONNECTION": "203.0.113.5 50022 192.0.2.1 22"})
    finally:
        os.umask(old)
    assert (home / ".ssh_logins").stat().st_mode & 0o777 == 0o600
    assert (home / ".ssh_logins").read_text().count("\n") == 1


def test_the_prompt_does_not_wait_for_authwatch(home):
    profile.install(home, background_command(home, seconds=3), NOW)
    took = run_profile("bash", home, {"SSH_CONNECTION": "203.0.113.5 50022 192.0.2.1 22"})
    assert took < 1.0 and not (home / "started").exists()
    time.sleep(3.5)
    assert (home / "started").exists()


def test_the_interpreter_must_run_from_a_login(home):
    assert profile.check_command([shutil.which("python3") or "/usr/bin/python3", "-c", "pass"], home) is None
    assert "No such file" in profile.check_command(["/nonexistent/python3", "-m", "authwatch"], home)
    assert profile.check_command(["/bin/sh", "-c", "echo broken >&2; exit 3"], home) == "broken"


@pytest.mark.parametrize("where", [".bash_profile", ".bashrc", ".zshrc"])
def test_an_earlier_hook_writing_the_same_file_is_pointed_out(home, where):
    earlier = 'echo "$(date) ${SSH_CLIENT%% *} $USER unknown" >> ~/.ssh_logins\n'
    (home / where).write_text(earlier)
    assert profile.install(home, CMD, NOW).another == (home / where,)
    (home / where).write_text("# nothing of the kind\n")
    assert profile.install(home, CMD, NOW).another == ()
