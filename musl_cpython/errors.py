"""Errors the command line turns into one clear message and an exit code."""


class BuildError(Exception):
    """Something failed; the message says what. Exit code 1."""

    exit_code = 1


class UsageError(BuildError):
    """The request names something that does not exist. Exit code 2."""

    exit_code = 2


class MissingHostTool(BuildError):
    """A program the build needs is not installed. Exit code 2."""

    exit_code = 2


class SourceUnavailable(BuildError):
    """No candidate place could supply a pinned file."""


class ChecksumMismatch(BuildError):
    """A file's bytes differ from its pin: never used, never kept."""

    def __init__(self, name, expected, actual, origin):
        super().__init__(
            f"sha256 mismatch for {name} from {origin}: expected {expected}, got {actual}; "
            "the file was discarded")
        self.name, self.expected, self.actual = name, expected, actual


class UnsafeArchive(BuildError):
    """An archive member would land outside the extraction directory."""


class StepFailed(BuildError):
    """A build command failed; its full log is kept."""

    def __init__(self, step, log_path, detail):
        super().__init__(f"step {step!r} failed: {detail}")
        self.step, self.log_path = step, log_path
