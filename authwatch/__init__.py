"""authwatch: know within a second that someone logged in over SSH, SCP or SFTP."""

__version__ = "0.1.0"
