"""Settings for no-root mode (`authwatch scan --user`, `authwatch profile`).

Everything is the user's own, under the XDG directories, whoever runs it:
the configuration `$XDG_CONFIG_HOME/authwatch/config.yaml`
(~/.config/authwatch/config.yaml), unless --config or $AUTHWATCH_CONFIG
names another; the state `$XDG_STATE_HOME/authwatch/state.db`
(~/.local/state/authwatch/state.db) unless the file sets `state:`; and the
source `profile` (~/.ssh_logins, which the profile hook appends to) unless
the file sets `sources:`.
"""

from __future__ import annotations

import os
from dataclasses import replace

from authwatch import config

SOURCES = ("profile",)


def load(explicit: str | None = None) -> config.Settings:
    """The user's settings; raises ConfigError or UsageError as config.load does."""
    if explicit or os.environ.get("AUTHWATCH_CONFIG"):
        settings = config.load(explicit)  # an error names where the file was named
    else:
        path = config.user_config_path()
        settings = config.load(path) if os.path.isfile(path) else config.defaults()
    if "state" not in settings.explicit:
        settings = replace(settings, state=config.user_state_path())
    if "sources" not in settings.explicit:
        settings = replace(settings, sources=SOURCES)
    return settings
