"""Errors whose message is meant for the person at the keyboard (one line, no traceback)."""


class MaskGITError(ValueError):
    """Bad input: a file, a setting or a mask that the library cannot use."""


class CheckpointError(MaskGITError):
    """A checkpoint that is missing, truncated or does not match its config."""
