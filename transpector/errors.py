"""The one error type Transpector raises for bad input; it never imports torch."""


class TranspectorError(Exception):
    """A problem the user can fix; the message says how."""
