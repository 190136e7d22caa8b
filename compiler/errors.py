"""The one exception type the tools turn into a single clear line on stderr."""


class LockstepError(Exception):
    """A user-facing error: bad input, unsupported construct, or an impossible system."""


class SramOverflow(LockstepError):
    """A chip's SRAM cannot hold what was placed on it (with `auto`, the next candidate is tried)."""
