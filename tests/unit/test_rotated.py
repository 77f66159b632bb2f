"""Rotated sets read oldest first."""

from authwatch.sources.rotated import oldest_first


def test_numbered_sets_as_the_shell_lists_them():
    given = ["/var/log/auth.log", "/var/log/auth.log.1", "/var/log/auth.log.10.gz", "/var/log/auth.log.2.gz",
             "/var/log/auth.log.3.gz"]
    assert oldest_first(given) == ["/var/log/auth.log.10.gz", "/var/log/auth.log.3.gz", "/var/log/auth.log.2.gz",
                                   "/var/log/auth.log.1", "/var/log/auth.log"]


def test_dated_sets_and_several_sets_keep_their_order():
    given = ["/var/log/secure", "/var/log/secure-20261115", "/var/log/secure-20261108.gz", "b.log", "b.log.1"]
    assert oldest_first(given) == ["/var/log/secure-20261108.gz", "/var/log/secure-20261115", "/var/log/secure",
                                   "b.log.1", "b.log"]


def test_single_files_and_stdin_stay_put():
    assert oldest_first(["x.log", "-", "y.log.gz"]) == ["x.log", "-", "y.log.gz"]
