"""The one exception type for mistakes a user can fix.

The CLI prints a `UserError` as a single line (no traceback) and exits non-zero. Raise it
with a message that names the file or value at fault and says what to do about it.
"""


class UserError(Exception):
    """A problem with the user's input or arguments, reported in one line."""


def first_line(exc: Exception, default: str) -> str:
    """The first line of an exception's message (``default`` when it has none), for one-line reasons."""
    text = str(exc).strip().splitlines()
    return text[0] if text else default
