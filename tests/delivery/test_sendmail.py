"""sendmail:// against stub sendmail programs the test writes: what they
are given (argv, the complete message on stdin) and what a failure says."""

import os
import time
from email import message_from_bytes, policy

from authwatch.deliver.delivery import Delivery
from authwatch.deliver.message import render_test
from authwatch.deliver.targets import DeliveryError, build
from tests.delivery.conftest import login, queue, settings


def stub(tmp_path, body: str, name="sendmail"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def recording_stub(tmp_path):
    out = tmp_path / "got"
    out.mkdir()
    return stub(tmp_path, f'printf "%s\\n" "$@" > {out}/argv\ncat > {out}/message\n'), out


def test_the_complete_message_is_piped_to_sendmail_t_oi(state, tmp_path):
    program, out = recording_stub(tmp_path)
    alert = login()
    queue(state, [alert])
    s = settings(state, {"t": "sendmail://ops@example.com/sec@example.com?from=authwatch@web1.example.com"},
                 sendmail=program)
    assert Delivery(s, state).run_once(time.time() + 10).ok
    assert (out / "argv").read_text() == "-t\n-oi\n"  # recipients come from the headers, not argv
    m = message_from_bytes((out / "message").read_bytes(), policy=policy.default)
    assert m["From"] == "authwatch@web1.example.com" and m["To"] == "ops@example.com, sec@example.com"
    assert m["Subject"] == "[authwatch] alice@web1 from 198.51.100.7 — login"
    assert m["Message-ID"].startswith(f"<{alert.id}.authwatch@") and m["Date"]
    assert "New SSH login detected on web1." in m.get_body(("plain",)).get_content()
    assert m.get_body(("html",)) is not None


def test_bin_in_the_url_wins_and_the_default_recipient_is_root(state, tmp_path):
    program, out = recording_stub(tmp_path)
    target = build(settings(state, {"t": f"sendmail://?bin={program}"}, sendmail="/nonexistent/sendmail"))["t"]
    target.send(render_test("t", "web1"))
    m = message_from_bytes((out / "message").read_bytes(), policy=policy.default)
    assert m["To"] == "root" and m["Subject"] == "[authwatch] test message for t from web1"


def test_a_failing_sendmail_is_a_failure_with_its_own_words(state, tmp_path):
    program = stub(tmp_path, 'echo "sendmail: fatal: no such user" >&2\nexit 75\n')
    said = f"sendmail: {program} exited with status 75: sendmail: fatal: no such user"
    target = build(settings(state, {"t": "sendmail://ops@example.com"}, sendmail=program))["t"]
    try:
        target.send(render_test("t", "web1"))
    except DeliveryError as e:
        assert str(e) == said
    else:
        raise AssertionError("a failing sendmail must be a failure")
    alert = login()
    queue(state, [alert])
    report = Delivery(settings(state, {"t": "sendmail://ops@example.com"}, sendmail=program), state).run_once(
        time.time() + 10)
    assert report.undelivered == 1 and report.errors["t"] == said


def test_test_notify_says_what_sendmail_said(tmp_path, cli):
    program = stub(tmp_path, 'echo "sendmail: fatal: no route to nowhere" >&2\nexit 75\n', "badsendmail")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: {tmp_path}/state.db\ngeoip: false\ntargets:\n  local: sendmail://root\n"
                   f"delivery:\n  sendmail: {program}\n")
    r = cli("test-notify", "--config", str(cfg))
    assert r.code == 1
    assert r.out == f"local  FAILED: sendmail: {program} exited with status 75: sendmail: fatal: no route to nowhere\n"


def test_a_missing_or_hanging_sendmail_is_a_failure(state, tmp_path):
    nope, slow = str(tmp_path / "nope"), stub(tmp_path, "sleep 30\n")
    missing = build(settings(state, {"t": "sendmail://"}, sendmail=nope))["t"]
    hanging = build(settings(state, {"t": "sendmail://"}, sendmail=slow, timeout=0.5))["t"]
    for target, said in ((missing, f"sendmail: cannot run {nope}: No such file or directory"),
                         (hanging, f"sendmail: {slow} did not finish within 0.5 s")):
        started = time.monotonic()
        try:
            target.send(render_test("t", "web1"))
        except DeliveryError as e:
            assert str(e) == said
        else:
            raise AssertionError("must fail")
        assert time.monotonic() - started < 5


def test_no_shell_reads_the_message(state, tmp_path):
    program, out = recording_stub(tmp_path)
    queue(state, [login(user="$(touch pwned); `touch pwned2`; x")])
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert Delivery(settings(state, {"t": "sendmail://"}, sendmail=program), state).run_once(time.time() + 10).ok
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert "$(touch pwned)" in (out / "message").read_text()
