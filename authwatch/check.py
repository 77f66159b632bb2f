"""`authwatch check`: what can be known about a configuration without
sending anything.

Errors (a configuration that cannot be used) are raised while it is loaded
(`config.load`: ConfigError, each with file, line, column, key path, what was
expected and a "did you mean"), and by `deliver.targets.build` for a target
URL that no Apprise plugin accepts (it builds the plugin, connects nowhere).
The warnings here need more than the file: its permissions, whether the
state's directory can be made and written, whether `auto` finds a log, the
GeoIP databases, the LogLevel of this host's sshd (when its log is read), and
the program a `sendmail://` target runs.
"""

from __future__ import annotations

import errno
import os
import tempfile

from authwatch import config, sshd_loglevel
from authwatch.config import Settings, say_duration
from authwatch.enrich.enricher import geoip_problems
from authwatch.rules import Rule
from authwatch.sources import configured
from authwatch.sources.configured import hook_entry


def warnings(settings: Settings) -> list[str]:
    """Everything worth a warning; raises ConfigError for an unusable target."""
    out = []
    if settings.targets:
        from authwatch.deliver import sendmail
        from authwatch.deliver.targets import SendmailTarget, build  # imports Apprise

        for name, target in build(settings).items():
            if isinstance(target, SendmailTarget) and (why := sendmail.problem(target.program)):
                out.append(f"{settings.targets[name].get('where', name)}: targets.{name}: {why}: this "
                           "sendmail:// target cannot send; install a sendmail (an MTA's, msmtp's, nullmailer's) "
                           "or name one with delivery.sendmail or the URL's ?bin=")
    why = config.insecure(settings)
    if why:
        out.append(f"{why}; the service refuses to start with it (unless --insecure-config)")
    out += filter(None, (_state_problem(settings.state),
                         configured.auto_finds_nothing() if "auto" in settings.sources else None))
    out += geoip_problems(settings)
    if any(hook_entry(entry) is None for entry in settings.sources):  # sshd's own lines are read
        sshd = sshd_loglevel.problem(sshd_loglevel.effective())
        if sshd:
            out.append(sshd)
    return out


def _state_problem(path: str) -> str | None:
    """Why run and scan could not make the state's directory, or write in
    it, as this user: tried for real (a directory made beside where it would
    go and removed at once, or a nameless file in it), since permission bits
    do not tell (root, read-only mounts, /proc)."""
    directory = os.path.dirname(os.path.abspath(path))
    existing = directory
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    there = existing == directory and os.path.isdir(directory)
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a directory")
        if there:
            tempfile.TemporaryFile(dir=directory).close()
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".authwatch-check-", dir=existing))
    except OSError as e:
        return (f"state: {path}: its directory cannot be {'written' if there else 'made'} by this "
                f"user ({e.strerror or e}): run and scan would stop at once; choose another `state:`, or make "
                f"{directory} and let the user they run as write in it")
    return None


def summary(settings: Settings) -> list[str]:
    """What the configuration sets, in a few lines."""
    rows = [
        ("state", settings.state),
        ("sources", ", ".join(settings.sources)),
        ("timezone", settings.timezone or f"{settings.tz} (the system's)"),
        ("targets", ", ".join(settings.targets) or "none: replay prints alerts; run and scan only log them, and a "
                    "target added later gets only the alerts raised after it"),
    ]
    if settings.quiet_hours:
        at = ", ".join(f"{m // 60:02d}:{m % 60:02d}" for m in settings.digest_at)
        rows.append(("quiet hours", "; ".join(w.text for w in settings.quiet_hours)
                     + " (the digest goes out at their end" + (f", and at {at} outside them)" if at else ")")))
    if not settings.rules:
        rows.append(("rules", "none: every login alerts at info, a forged sshd entry at critical"))
    width = max(len(label) for label, _ in rows)
    lines = [f"  {label:<{width}}  {value}" for label, value in rows]
    if settings.rules:
        lines.append(f"  {'rules':<{width}}  {len(settings.rules)}, first match wins; a login none matches alerts "
                     "at info")
        name_width = max(len(r.name) for r in settings.rules)
        kinds_width = max(len(",".join(sorted(r.kinds))) for r in settings.rules)
        lines += [f"    {r.index:>2}  {r.name:<{name_width}}  {','.join(sorted(r.kinds)):<{kinds_width}}  {_does(r)}"
                  for r in settings.rules]
    return lines


def _does(rule: Rule) -> str:
    if rule.action == "ignore":
        return "ignore"
    if rule.action == "summarize":
        text = f"summarize: one message per {say_duration(rule.window)} from {rule.threshold:,} events"
    else:
        text = f"{rule.action} {rule.severity}"
    text += " to " + (", ".join(rule.notify) if rule.notify else "all targets")
    if rule.cooldown:
        text += f", cooldown {say_duration(rule.cooldown)}"
    if rule.action != "digest" and rule.severity != "critical":
        text += f", quiet hours: {rule.during_quiet_hours}"
    return text
