"""`authwatch check`: errors and exit codes for a bad configuration, the
warnings (unknown keys, a rule that can never match, secrets readable by
others, GeoIP, sshd's LogLevel), target URLs built without sending, and
sshd's LogLevel read the way sshd reads it (checked against `sshd -T`)."""

import os
import shutil
import subprocess

import pytest

from authwatch import sshd_loglevel
from authwatch.sources import configured
from tests.conftest import FIXTURES
from authwatch.sshd_loglevel import LogLevel, from_command, from_file


@pytest.fixture(autouse=True)
def sshd_config(tmp_path, monkeypatch):
    """This host's sshd is a test file: LogLevel VERBOSE unless a test says otherwise."""
    path = tmp_path / "sshd_config"
    path.write_text("LogLevel VERBOSE\n")
    monkeypatch.setattr(sshd_loglevel, "SSHD_CONFIG", str(path))
    monkeypatch.setattr(sshd_loglevel, "SSHD_T", ("false",))
    return path


@pytest.fixture(autouse=True)
def system_log(tmp_path, monkeypatch):
    """This host has a /var/log/auth.log for `sources: auto`: a test file."""
    path = tmp_path / "auth.log"
    path.write_text("")
    monkeypatch.setattr(configured, "AUTO", (str(path), str(tmp_path / "secure")))
    monkeypatch.setattr(configured, "JOURNAL_DIRS", (str(tmp_path / "journal"), str(tmp_path / "run-journal")))
    return path


@pytest.fixture
def write(tmp_path):
    def write(text: str, mode: int = 0o600) -> str:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        path.chmod(mode)
        return str(path)

    return write


GOOD = """\
state: {state}
geoip: false
timezone: Europe/London
targets:
  mail: "mailto://localhost?to=root"
quiet_hours:
  - {{days: mon-fri, from: "22:00", to: "07:00"}}
rules:
  - name: root
    match: {{user: root}}
    action: alert
    severity: critical
  - name: failures
    match: {{kind: failure}}
    action: summarize
    window: 10m
    threshold: 20
  - name: everything else
    action: alert
    cooldown: 30m
"""


def test_a_good_configuration(cli, write, tmp_path):
    path = write(GOOD.format(state=tmp_path / "state.db"))
    r = cli("check", "--config", path)
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        f"{path}: valid\n"
        f"  state        {tmp_path / 'state.db'}\n"
        "  sources      auto\n"
        "  timezone     Europe/London\n"
        "  targets      mail\n"
        "  quiet hours  mon-fri 22:00-07:00 (the digest goes out at their end, and at 08:00 outside them)\n"
        "  rules        3, first match wins; a login none matches alerts at info\n"
        "     1  root             login    alert critical to all targets\n"
        "     2  failures         failure  summarize: one message per 10m from 20 events to all targets, "
        "quiet hours: digest\n"
        "     3  everything else  login    alert info to all targets, cooldown 30m, quiet hours: digest\n"
    )


BAD = """\
timezone: Europe/Londn
targets:
  mail: "mailto://localhost?to=root"
quiet_hours:
  - {days: mon-fry, from: "22:00", to: "07:00"}
rules:
  - name: office
    match: {ip: [203.0.113.1/24], usr: alice}
    action: ignore
  - name: root
    match: {user: root}
    action: alrt
    notify: [mail, chat]
"""


def test_a_bad_configuration_names_every_mistake(cli, write):
    path = write(BAD)
    r = cli("check", "--config", path)
    assert r.code == 3 and r.out == ""
    assert r.err.splitlines() == [
        f"authwatch: error: {path}:1:11: timezone: unknown time zone 'Europe/Londn'; expected an IANA name such "
        "as Europe/London or UTC",
        f"authwatch: error: {path}:5:12: quiet_hours[0].days: unknown day 'fry'; days are mon, tue, wed, thu, fri, "
        "sat, sun (or full names), e.g. mon-fri",
        f"authwatch: error: {path}:8:18: rules[0].match.ip[0]: 203.0.113.1/24 has bits set after the prefix "
        "length; did you mean 203.0.113.0/24?",
        f"authwatch: error: {path}:8:35: rules[0].match.usr: unknown key 'usr'; did you mean 'user'?",
        f"authwatch: error: {path}:12:13: rules[1].action: expected an action: alert, ignore, digest or "
        "summarize, got 'alrt'; did you mean 'alert'?",
    ]


@pytest.mark.parametrize("text, error", [
    ("rules: [", "invalid YAML"),
    ("rules:\n  - {action: alert, notify: chta}\ntargets: {chat: 'json://localhost/x'}\n",
     "rules[0].notify: expected one of the targets: chat, got 'chta'; did you mean 'chat'?"),
])
def test_other_mistakes_exit_3(cli, write, text, error):
    r = cli("check", "--config", write(text))
    assert r.code == 3 and error in r.err and "Traceback" not in r.err


def test_a_target_url_no_plugin_accepts_is_an_error_without_connecting(cli, write):
    r = cli("check", "--config", write("targets:\n  mail: 'mailto://localhost?to=root'\n"
                                       "  pager: 'nosuchservice://token@example.invalid/x'\n"))
    assert r.code == 3
    assert ":3:10: targets.pager:" in r.err and "token" not in r.err


def test_warnings(cli, write, tmp_path, sshd_config):
    sshd_config.write_text("Port 22\n")
    path = write(GOOD.format(state=tmp_path / "state.db").replace("geoip: false\n", "").replace(
        'targets:\n  mail: "mailto://localhost?to=root"\n',
        'targets:\n  mail: "mailtos://alerts:hunter2hunter@mail.example.com?to=ops@example.com"\n')
        + "  - {name: late, match: {user: alice}, action: ignore}\nsurprise: 1\n", mode=0o644)
    r = cli("check", "--config", path)
    assert r.code == 0 and r.out.startswith(f"{path}: valid\n")
    assert r.err.splitlines() == [
        f"authwatch: warning: {path}:20:5: rules[3]: rule 4 'late' can never match: rule 3 'everything else' "
        "before it matches every login event",
        f"authwatch: warning: {path}:21:1: surprise: unknown key 'surprise' (ignored); known keys: correlate_ms, "
        "delivery, digest_at, geoip, history, poll_interval, quiet_hours, rules, sources, state, targets, timezone, travel",
        f"authwatch: warning: {path}: holds secrets (targets.mail: its password) and is readable by group and others (mode 0644): "
        f"run 'chmod 600 {path}', or take the secrets from the environment with ${{NAME}}; the service refuses to "
        "start with it (unless --insecure-config)",
        f"authwatch: warning: GeoIP: no database found in {tmp_path / 'geoip'}, {tmp_path / 'system-geoip'}: logins "
        "show no place or network, and history cannot tell new countries or ASNs; run 'authwatch geoip update' "
        "(or set geoip: false)",
        f"authwatch: warning: sshd runs with LogLevel INFO (sshd's default: {sshd_config} does not set it): below "
        "VERBOSE it does not log the session type (shell, command, SFTP) nor the key file of a login; set "
        f"'LogLevel VERBOSE' in {sshd_config} and reload sshd",
    ]
    assert "hunter2" not in r.err + r.out


def test_without_a_file_the_built_in_defaults(cli, tmp_path):
    r = cli("check")
    assert r.code == 0
    first = r.out.splitlines()[0]
    assert first.startswith(f"no configuration file (none at {tmp_path}/") and first.endswith(
        "/config.yaml, and no --config or $AUTHWATCH_CONFIG): the built-in defaults hold")
    assert "  rules     none: every login alerts at info, a forged sshd entry at critical\n" in r.out
    assert ("  targets   none: replay prints alerts; run and scan only log them, and a target added later gets only "
            "the alerts raised after it\n") in r.out


@pytest.mark.parametrize("text", ["", "# state: /var/lib/authwatch/state.db\n\n# targets: ...\n"])
def test_a_file_with_no_settings_holds_the_built_in_defaults_with_a_warning(cli, write, tmp_path, text):
    path = write(text)
    r = cli("check", "--config", path)
    assert r.code == 0, r.err
    assert r.err.splitlines()[0] == (f"authwatch: warning: {path}:1:1: the file holds no settings (it is empty, or "
                                     "only comments): the built-in defaults hold (rules.example.yaml shows every "
                                     "setting)")
    assert r.out.startswith(f"{path}: valid\n")
    assert "  rules     none: every login alerts at info, a forged sshd entry at critical\n" in r.out
    assert cli("replay", "--config", path, str(FIXTURES / "openssh-10-rfc3339.log")).code == 0


# -- sshd's LogLevel ------------------------------------------------------------

SSHD_CASES = {
    "unset": ("Port 22\n", "INFO"),
    "set": ("LogLevel VERBOSE\n", "VERBOSE"),
    "equals and case": ("loglevel=debug3\n", "DEBUG3"),
    "quoted": ('LogLevel "ERROR"\n', "ERROR"),
    "first wins": ("LogLevel QUIET\nLogLevel VERBOSE\n", "QUIET"),
    "include first": ("Include {dir}/conf.d/*.conf\nLogLevel INFO\n", "VERBOSE"),
    "match is not global": ("Port 22\nMatch User bob\n  LogLevel DEBUG3\n", "INFO"),
}


def _sshd_files(tmp_path, text: str) -> str:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir(exist_ok=True)
    (conf_d / "10-verbose.conf").write_text("# from the package\nLogLevel VERBOSE\n")
    (conf_d / "20-debug.conf").write_text("LogLevel DEBUG\n")
    path = tmp_path / "sshd_config"
    path.write_text(text.format(dir=tmp_path))
    return str(path)


@pytest.mark.parametrize("case", SSHD_CASES)
def test_sshd_config_is_read_as_sshd_reads_it(tmp_path, case):
    text, level = SSHD_CASES[case]
    found = from_file(_sshd_files(tmp_path, text), base=str(tmp_path))
    assert found.level == level
    assert (sshd_loglevel.problem(found) is None) == (level not in ("QUIET", "FATAL", "ERROR", "INFO"))
    assert from_file(str(tmp_path / "missing")) is None


def _sshd_t_missing() -> str | None:
    if os.geteuid() != 0:
        return "sshd -T needs root"
    for program in ("/usr/sbin/sshd", "unshare", "ssh-keygen"):
        if not shutil.which(program):
            return f"{program} is not installed (apt-get install openssh-server util-linux)"
    return None


def test_the_reading_agrees_with_sshd_itself(tmp_path):
    """Each case above, also asked of the real sshd (-T), in a private mount
    namespace where /run/sshd can be made without touching the host."""
    missing = _sshd_t_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run this: {missing}")
        pytest.skip(missing)
    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    for case, (text, level) in SSHD_CASES.items():
        path = _sshd_files(tmp_path, f"HostKey {key}\n" + text)
        command = ("unshare", "-m", "sh", "-c",
                   f"mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec /usr/sbin/sshd -T -f {path}")
        said = from_command(command)
        assert said is not None, case
        assert _same(said, from_file(path, base=str(tmp_path)).level), case
        assert sshd_loglevel.effective(path, command) == LogLevel(said, f"from {' '.join(command)}")


def _same(by_sshd: str, by_us: str) -> bool:
    return by_sshd == by_us or {by_sshd, by_us} == {"DEBUG", "DEBUG1"}


@pytest.mark.parametrize(
    "url, secret",
    [
        ("tgram://123456:AbCd!!Secret/123", "AbCd!!Secret"),
        ("join://ApiKeySecret!!/d", "ApiKeySecret"),
        ("prowl://ApiKeySecretABC!!", "ApiKeySecret"),
        ("slack://T0!S3CRET/B000/X", "S3CRET"),
        ("dingtalk://Tok!!Secret", "Tok!!"),
    ],
)
def test_apprise_complaints_never_repeat_a_token(cli, write, url, secret):
    """Apprise quotes the value it rejects, and some services keep their token
    where a host would be, in mixed case: neither may reach the screen."""
    r = cli("check", "--config", write(f'targets:\n  a: "{url}"\n'))
    assert r.code == 3 and "Apprise cannot use this" in r.err
    assert secret not in r.err + r.out


def test_a_mail_target_at_an_ip_address_is_told_to_give_its_from_address(cli, write, tmp_path):
    r = cli("check", "--config", write(f"state: {tmp_path}/s.db\ngeoip: false\ntargets:\n"
                                       "  mail: 'mailto://127.0.0.1?to=root'\n"))
    assert r.code == 3
    assert r.err.endswith(
        "targets.mail: Apprise cannot use this mailto:// URL: Invalid ~From~ email specified: (without ?from=, the "
        "From address is made from the URL's user and host, and an IP address is no mail domain: give one, such as "
        "?from=alerts@example.com)\n")
    fixed = cli("check", "--config", write(f"state: {tmp_path}/s.db\ngeoip: false\ntargets:\n"
                                           "  mail: 'mailto://127.0.0.1?to=root&from=alerts@example.com'\n"))
    assert fixed.code == 0, fixed.err


def test_sshds_log_level_is_no_concern_of_a_configuration_that_reads_only_the_hooks(cli, write, tmp_path, sshd_config):
    sshd_config.write_text("LogLevel INFO\n")
    hooks_only = cli("check", "--config", write(f"state: {tmp_path}/s.db\ngeoip: false\nsources: [hook, profile]\n"))
    assert hooks_only.code == 0 and "LogLevel" not in hooks_only.err
    with_log = cli("check", "--config", write(f"state: {tmp_path}/s.db\ngeoip: false\nsources: [hook, auto]\n"))
    assert with_log.code == 0 and "LogLevel INFO" in with_log.err


def test_a_sendmail_target_whose_program_cannot_run_is_a_warning(cli, write, tmp_path):
    works = tmp_path / "sendmail"
    works.write_text("#!/bin/sh\ncat >/dev/null\n")
    works.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    path = write(f"state: {tmp_path}/state.db\ngeoip: false\nsources: [hook:{tmp_path}/logins]\ntargets:\n"
                 f"  local: sendmail://root\n"
                 f"  gone: sendmail://?bin={tmp_path}/nope\n"
                 f"  plain: sendmail://?bin={plain}\n"
                 f"  named: sendmail://?bin=no-such-sendmail-here\n"
                 f"  dir: sendmail://?bin={tmp_path}\n"
                 f"  fine: sendmail://?bin={works}\n"
                 f"delivery:\n  sendmail: {tmp_path}/missing/sendmail\n")
    r = cli("check", "--config", path)
    assert r.code == 0 and r.out.startswith(f"{path}: valid\n")
    advice = ("this sendmail:// target cannot send; install a sendmail (an MTA's, msmtp's, nullmailer's) or name one "
              "with delivery.sendmail or the URL's ?bin=")
    assert r.err.splitlines() == [
        f"authwatch: warning: {path}:5:10: targets.local: {tmp_path}/missing/sendmail: No such file or directory: "
        + advice,
        f"authwatch: warning: {path}:6:9: targets.gone: {tmp_path}/nope: No such file or directory: " + advice,
        f"authwatch: warning: {path}:7:10: targets.plain: {plain} is not executable (mode 0644): " + advice,
        f"authwatch: warning: {path}:8:10: targets.named: no-such-sendmail-here is not found in PATH: " + advice,
        f"authwatch: warning: {path}:9:8: targets.dir: {tmp_path} is not a program (not a regular file): " + advice,
    ]


# -- what run and scan would stop at ----------------------------------------------------------------------

@pytest.mark.parametrize("state, made, why", [
    ("/proc/nope/state.db", "made", "No such file or directory"),  # /proc takes no new directory, even from root
    ("{tmp}/config.yaml/state.db", "made", "{tmp}/config.yaml is not a directory"),
    ("/proc/self/state.db", "written", "No such file or directory"),  # a directory that takes no file
])
def test_a_state_directory_that_cannot_be_made_or_written_is_a_warning(cli, write, tmp_path, state, made, why):
    state = state.format(tmp=tmp_path)
    path = write(f"state: {state}\ngeoip: false\n")
    r = cli("check", "--config", path)
    assert r.code == 0 and f"{path}: valid" in r.out
    directory = os.path.dirname(state)
    assert r.err == (f"authwatch: warning: state: {state}: its directory cannot be {made} by this user "
                     f"({why.format(tmp=tmp_path)}): run and scan would stop at once; choose another `state:`, or "
                     f"make {directory} and let the user they run as write in it\n")
    assert cli("scan", "--config", path).code == 1  # what the warning foretells


def test_a_state_directory_that_can_be_made_is_left_as_it_was(cli, write, tmp_path):
    r = cli("check", "--config", write(f"state: {tmp_path}/new/deeper/state.db\ngeoip: false\n"))
    assert (r.code, r.err) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.log", "config.yaml", "sshd_config"]


def test_auto_with_no_system_log_and_no_journal_files_is_a_warning(cli, write, tmp_path, system_log):
    path = write(f"state: {tmp_path}/state.db\ngeoip: false\nsources: [auto]\n")
    system_log.unlink()
    r = cli("check", "--config", path)
    assert r.code == 0 and r.err == (
        f"authwatch: warning: sources: auto: neither {system_log} nor {tmp_path}/secure exists, and there are no "
        f"systemd journal files in {tmp_path}/journal or {tmp_path}/run-journal: there is nothing to read until one "
        "appears; name the log in `sources:`\n")
    (tmp_path / "journal" / "0123").mkdir(parents=True)
    (tmp_path / "journal" / "0123" / "system.journal").write_bytes(b"")
    assert cli("check", "--config", path).err == ""  # auto reads the journal
