"""The one error type the CLI turns into a one-sentence message and a non-zero exit."""


class UserError(Exception):
    """Something the user can fix; the message says what, in one sentence."""
