"""Every error the command line turns into one clear message and an exit code.

Exit codes: 1 a build or a check failed; 2 the request cannot be carried out
here (an unknown name, a missing host tool, an input that is not what it
claims to be); 130 interrupted (cli.py).
"""


class BuildError(Exception):
    """Something failed; the message says what. Exit code 1."""

    exit_code = 1


class UsageError(BuildError):
    """The request names something that does not exist, or a recipe is malformed. Exit code 2."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe file says something the schema does not allow; the message names the file and key."""


class MissingHostTool(BuildError):
    """A program the build needs is not installed. Exit code 2."""

    exit_code = 2


class BuildDirectoryBusy(BuildError):
    """Another run holds the build directory. Exit code 2."""

    exit_code = 2


class ContainerUnavailable(BuildError):
    """--backend container, and no docker or podman answers and can obtain the build image. Exit code 2."""

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


class EmulationUnavailable(BuildError):
    """This machine cannot run the target's programs: nothing was judged. Exit code 2."""

    exit_code = 2


class VerificationCannotRun(BuildError):
    """Not a verdict on the artifact: the check itself could not start. Exit code 2."""

    exit_code = 2
