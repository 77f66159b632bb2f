"""`sources:` names the hooks' files: `hook` (the PAM hook's spool) and
`profile` (~/.ssh_logins), with a path of their own if wanted."""

from __future__ import annotations

import pytest

from authwatch import config
from authwatch.errors import ConfigError
from authwatch.sources import configured


def test_hook_and_profile_entries_with_their_default_files_or_given_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = config.parse("sources: [auto, hook, 'hook:/srv/spool/logins', profile, 'profile:~/other']\n", "c.yaml")
    assert s.sources == ("auto", "hook", "hook:/srv/spool/logins", "profile", "profile:~/other")
    resolved = configured.resolve(s.sources)
    kinds = {w.path: w.kind for w in resolved.files}
    assert kinds["/var/spool/authwatch/logins"] == kinds["/srv/spool/logins"] == "hook"
    assert kinds[f"{tmp_path}/.ssh_logins"] == kinds[f"{tmp_path}/other"] == "profile"
    assert kinds.get("/var/log/auth.log", "log") == "log"


@pytest.mark.parametrize("entry", ["hook:relative/logins", "profile:logins"])
def test_a_relative_path_is_an_error_with_its_place(entry):
    with pytest.raises(ConfigError) as e:
        config.parse(f"sources: ['{entry}']\n", "c.yaml")
    assert str(e.value).startswith("c.yaml:1:11: sources[0]: expected ") and entry in str(e.value)


def test_a_missing_spool_directory_is_said_but_a_missing_spool_is_normal(tmp_path):
    (tmp_path / "spool").mkdir()
    assert configured.resolve([f"hook:{tmp_path}/spool/logins"]).problems == []
    problems = configured.resolve([f"hook:{tmp_path}/gone/logins"]).problems
    assert len(problems) == 1 and f"the spool directory {tmp_path}/gone does not exist" in problems[0]


def test_words_that_only_begin_like_them_are_paths():
    assert configured.hook_entry("hooked") is None and configured.hook_entry("/hook:x") is None
    assert configured.hook_entry("hook:") is None  # an empty path
