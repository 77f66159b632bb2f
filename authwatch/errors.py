"""Exit codes, and the errors that carry them up to the command line."""

OK = 0
RUNTIME = 1  # e.g. undelivered alerts in `scan`, a failed `test-notify`
USAGE = 2  # usage error or missing input
CONFIG = 3  # invalid configuration
INSECURE = 4  # configuration refused as insecure


class UserError(Exception):
    """A problem the user can fix, reported in one line (or a few) without a
    traceback. `code` is the exit code."""

    code = RUNTIME

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(UserError):
    code = USAGE


class ConfigError(UserError):
    """One or more configuration errors, each `file:line:col: key.path: what`."""

    code = CONFIG

    def __init__(self, problems: list[str], warnings: list[str] | tuple[str, ...] = ()):
        super().__init__("\n".join(problems))
        self.problems = problems
        self.warnings = tuple(warnings)
