"""The exceptions the engine raises to its front ends: CharRNNError, shown to users as a plain message, and
Cancelled, for work a user stopped."""


class CharRNNError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""


class Cancelled(Exception):
    """Raised when `should_stop()` asked a long computation (scoring, the cells search, the n-gram baseline) to
    give up."""
