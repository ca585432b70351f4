"""The one exception type the front ends show to users as a plain message."""


class CharRNNError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""
