"""Lambda SnapStart (the template's `SnapStart` parameter): the one-time work the init does for the
snapshot, and the fresh entropy each copy restored from it takes before its first invocation."""

from __future__ import annotations

import os

SNAPSHOTTED_INIT = "snap-start"  # AWS_LAMBDA_INITIALIZATION_TYPE during an init Lambda snapshots


def reseed_random_generators() -> None:
    """Every copy restored from one snapshot starts from the same generator states: OpenSSL's
    primary generator takes 48 fresh bytes from the OS (each thread's generators reseed from it at
    their next draw, which tests/unit/test_snapshot_safety.py holds OpenSSL to), and Python's
    `random` module (Powertools' log sampling) reseeds from the OS."""
    import random
    import ssl

    ssl.RAND_add(os.urandom(48), 48.0)
    random.seed()


class SnapStart:
    """`prepare()` once, during the init; `before_invocation()` before each invocation's own code
    (and before Powertools' decorators, which may draw on `random` for log sampling)."""

    def __init__(self, initialization_type: str | None) -> None:
        self.enabled = initialization_type == SNAPSHOTTED_INIT
        self._reseed_due = False

    def prepare(self) -> None:
        """With SnapStart, the first request's one-time work that is safe to snapshot: its imports
        (the HTTP stack, the domain, every AWS shape's models) and the TLS context. Without it,
        nothing: an event that needs no request never pays for them."""
        if not self.enabled:
            return
        from handler.core import preload
        from handler.sdrs.factory import ClientFactory

        ClientFactory.preload()
        preload()
        self._reseed_due = True  # in the snapshot: every restored copy reseeds once

    def before_invocation(self) -> bool:
        """True (after reseeding) on a restored copy's first invocation, and only then."""
        if not self._reseed_due:
            return False
        self._reseed_due = False
        reseed_random_generators()
        return True
