"""A keyed pseudo-random permutation of ``0 .. n-1`` evaluated on demand.

Shuffling without replacement normally materialises ``rng.permutation(n)``: O(n) time and
memory at every epoch, and O(n) state to checkpoint. A Feistel network over the smallest
even-bit domain that covers ``n``, with cycle-walking back into ``[0, n)``, is a bijection
computed per position, so a batch of k positions costs O(k) whatever the pool size and the
whole shuffle is described by one 64-bit key. Four rounds of a keyed 64-bit mixing function
(Luby-Rackoff construction) make the order statistically indistinguishable from a shuffle
for curriculum purposes.
"""

from __future__ import annotations

import numpy as np

_ROUNDS = 4
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fast bijective scrambling of 64-bit words."""
    values = values ^ (values >> np.uint64(30))
    values = values * _M1
    values = values ^ (values >> np.uint64(27))
    values = values * _M2
    return values ^ (values >> np.uint64(31))


class FeistelPermutation:
    """Bijection of ``[0, n)`` selected by ``key``; ``perm(positions)`` maps positions to items.

    Example:
        >>> perm = FeistelPermutation(10, key=42)
        >>> sorted(perm(np.arange(10)).tolist()) == list(range(10))
        True
    """

    def __init__(self, n: int, key: int) -> None:
        self.n = int(n)
        half_bits = max(1, (max(self.n - 1, 1).bit_length() + 1) // 2)
        self._half_bits = np.uint64(half_bits)
        self._half_mask = np.uint64((1 << half_bits) - 1)
        seeds = _mix(np.arange(1, _ROUNDS + 1, dtype=np.uint64) * np.uint64(key % 2**64 | 1))
        self._round_keys = seeds

    def _encrypt(self, values: np.ndarray) -> np.ndarray:
        left = values >> self._half_bits
        right = values & self._half_mask
        for round_key in self._round_keys:
            left, right = right, left ^ (_mix(right ^ round_key) & self._half_mask)
        return (left << self._half_bits) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            values = self._encrypt(np.asarray(positions, dtype=np.uint64))
            outside = values >= self.n
            while outside.any():  # cycle-walk: the domain is < 4n, so few passes are needed
                values[outside] = self._encrypt(values[outside])
                outside = values >= self.n
        return values.astype(np.int64)
