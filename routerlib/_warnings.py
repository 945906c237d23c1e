"""routerlib's warnings and the one helper that aims them at the caller's line.

A leaf module (it imports nothing of routerlib), so that the modules that warn (the request
checks, credentials, usage, pricing) never have to import the error tree. ``routerlib.exceptions``
re-exports the classes, which is where users should name them.
"""

from __future__ import annotations

import sys
import warnings

__all__ = [
    "PlaintextCredentialsWarning", "RouterlibWarning", "UsageWarning", "caller_stacklevel", "warn_implausible",
]


def caller_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel that points at the first frame outside routerlib.

    routerlib warns from different depths (``compute_cost`` called directly, or from inside
    a ``completion`` call), so a fixed stacklevel would point into routerlib itself.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "routerlib":
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level



class RouterlibWarning(UserWarning):
    """The root of routerlib's warnings: something works, but probably not as intended."""


class PlaintextCredentialsWarning(RouterlibWarning):
    """A credential is sent over plain ``http://`` to a host that is not a loopback address.

    Warned once per host per process. Use ``https://``; for a server on another machine of a
    trusted network, silence it with ``warnings.simplefilter("ignore", PlaintextCredentialsWarning)``.
    """


class UsageWarning(RouterlibWarning):
    """The provider reported usage that cannot be right (negative, not an integer, absurdly large,
    or more than the call could have generated); routerlib counted or bounded it itself and
    marked it ``estimated`` (see docs/cost.md)."""


def warn_implausible(problem: str, action: str = "routerlib counts the tokens itself") -> None:
    """The ``UsageWarning`` for usage that cannot be right."""
    warnings.warn(UsageWarning(f"the provider reported implausible usage ({problem}); {action} and marks "
                               f"the cost estimated"), stacklevel=caller_stacklevel())


for _cls in (RouterlibWarning, PlaintextCredentialsWarning, UsageWarning):
    _cls.__module__ = "routerlib.exceptions"
