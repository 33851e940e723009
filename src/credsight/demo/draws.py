"""Named random draws: every trait of the demo's story comes from its own stream, keyed by its name.

A stream depends only on the seed, the draw's name and its index (an account, a day, a key),
never on what was drawn before it, so adding, removing or reordering one draw leaves every
other draw's numbers as they were. Positional draws from one shared generator (``u[7]``)
would silently change every seed's story whenever one is inserted.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Draws", "named_stream"]


def named_stream(seed: int, name: str, *index: int) -> np.random.Generator:
    """The random stream of one named draw: the same (seed, name, index) always gives the same numbers.

    name is printable ASCII; index is non-negative integers. The stream is a numpy PCG64 whose
    SeedSequence has the seed as entropy and the name's bytes, a NUL, then the index as spawn
    key: the NUL ends the name, so no (name, index) runs into another.
    """
    if not name or not (name.isascii() and name.isprintable()):
        raise ValueError(f"a draw's name is printable ASCII, got {name!r}")
    key = (*name.encode("ascii"), 0, *index)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


class Draws:
    """The named draws of one part of the story: the organisation, one account, one day, one key that day.

    ``draws("home_region")`` is that trait's own stream within the part (``part`` and
    ``index`` say which). A name is drawn once per part: the same name twice would give the
    same numbers twice, two traits that always agree.
    """

    def __init__(self, seed: int, part: str, *index: int) -> None:
        self._seed, self._part, self._index = seed, part, index
        self._drawn: set[str] = set()

    def __call__(self, name: str) -> np.random.Generator:
        """The stream of the trait name in this part."""
        if name in self._drawn:
            raise ValueError(f"the draw {name!r} of the {self._part} is taken already: give the new trait its own name")
        self._drawn.add(name)
        return named_stream(self._seed, f"{self._part}.{name}", *self._index)
