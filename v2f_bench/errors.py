"""The one exception type for mistakes a user can fix.

The CLI prints a `UserError` as a single line (no traceback) and exits non-zero. Raise it
with a message that names the file or value at fault and says what to do about it.
"""


class UserError(Exception):
    """A problem with the user's input or arguments, reported in one line."""
