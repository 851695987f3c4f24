"""A keyed pseudo-random permutation of ``0 .. n-1`` evaluated on demand.

Shuffling without replacement normally materialises ``rng.permutation(n)``: O(n) time and
memory at every epoch, and O(n) state to checkpoint. Instead, encrypt the positions
``0, 1, 2, ...`` of the smallest power-of-two domain that covers ``n`` with a keyed Feistel
network and keep the values below ``n``: every item appears exactly once per pass over the
domain, in an order fixed by one 64-bit key. A batch of k items costs O(k) (the domain is
less than ``2n``, so fewer than ``2k`` positions are encrypted) whatever the pool size, and
the state is a key and a position. The domain is split into a high and a low part (unequal
when the bit count is odd); each round XORs one part with a keyed 64-bit mix of the other,
which is invertible, and six alternating rounds make the order statistically
indistinguishable from a shuffle for curriculum purposes.
"""

from __future__ import annotations

import numpy as np

_ROUNDS = 6
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
        bits = max(2, (self.n - 1).bit_length())
        low_bits = bits // 2
        self._low_bits = np.uint64(low_bits)
        self._low_mask = np.uint64((1 << low_bits) - 1)
        self._high_mask = np.uint64((1 << (bits - low_bits)) - 1)
        self.domain = 1 << bits
        self._round_keys = _mix(
            np.arange(1, _ROUNDS + 1, dtype=np.uint64) * np.uint64(key % 2**64 | 1)
        )

    def _encrypt(self, values: np.ndarray) -> np.ndarray:
        high = values >> self._low_bits
        low = values & self._low_mask
        for round_number, round_key in enumerate(self._round_keys):
            if round_number % 2 == 0:
                low = low ^ (_mix(high ^ round_key) & self._low_mask)
            else:
                high = high ^ (_mix(low ^ round_key) & self._high_mask)
        return (high << self._low_bits) | low

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """A bijection of ``[0, n)``: encrypt, re-encrypting values outside (cycle-walking)."""
        with np.errstate(over="ignore"):
            values = self._encrypt(np.asarray(positions, dtype=np.uint64))
            outside = values >= self.n
            while outside.any():
                values[outside] = self._encrypt(values[outside])
                outside = values >= self.n
        return values.astype(np.int64)

    def take(self, start: int, count: int) -> tuple[np.ndarray, int]:
        """The next ``count`` items of the order from domain position ``start``.

        Returns the items (fewer when the domain ends first) and the domain position after
        the last one; a full pass over ``[0, domain)`` yields every item exactly once.

        Example:
            >>> perm = FeistelPermutation(5, key=7)
            >>> first, position = perm.take(0, 3)
            >>> rest, end = perm.take(position, 10)
            >>> sorted(first.tolist() + rest.tolist()), end == perm.domain
            ([0, 1, 2, 3, 4], True)
        """
        parts, found, position = [], 0, start
        with np.errstate(over="ignore"):
            while found < count and position < self.domain:
                need = count - found
                chunk = min(self.domain - position, need * self.domain // self.n + need // 4 + 16)
                values = self._encrypt(np.arange(position, position + chunk, dtype=np.uint64))
                inside = np.flatnonzero(values < self.n)
                if len(inside) > need:
                    inside = inside[:need]
                    position += int(inside[-1]) + 1
                else:
                    position += chunk
                parts.append(values[inside].astype(np.int64))
                found += len(inside)
        items = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return items, position
