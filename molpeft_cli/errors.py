"""The one exception type for errors a user can cause; the CLI turns it into one line and a non-zero exit."""


class MolpeftError(Exception):
    """A problem with the user's input or environment, reported as one clear line (no traceback)."""

    exit_code = 2
