"""The runtime's one error: the streams broke a promise the hardware relies on."""
from compiler.errors import LockstepError


class BrokenPromise(LockstepError):
    """A stream did something the machine cannot do: late or overwritten data, a unit
    issuing twice, a link collision, an unmatched transfer, an address outside SRAM."""
