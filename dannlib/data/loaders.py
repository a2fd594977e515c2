"""Balanced source/target batches, sampled as whole index tensors (no per-sample Python).

Batch k of a stream depends only on (seed, k), so training can resume mid-epoch and give
the same batches as an uninterrupted run.
"""

from __future__ import annotations

import torch


class IndexStream:
    """An endless stream of indices into range(n): one fresh permutation per pass."""

    def __init__(self, n: int, seed: int):
        if n < 1:
            raise ValueError("cannot draw batches from an empty dataset")
        self.n, self.seed = n, seed
        self._pass, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, k: int) -> torch.Tensor:
        if k != self._pass:
            g = torch.Generator().manual_seed(self.seed * 100_003 + k)
            self._pass, self._perm = k, torch.randperm(self.n, generator=g)
        return self._perm

    def batch(self, index: int, size: int) -> torch.Tensor:
        """Indices of batch number `index` (batches of `size` laid end to end over the passes)."""
        start, parts = index * size, []
        while size > 0:
            k, offset = divmod(start, self.n)
            take = min(size, self.n - offset)
            parts.append(self._permutation(k)[offset : offset + take])
            start, size = start + take, size - take
        return torch.cat(parts)


def steps_per_epoch(n_source: int, n_target: int, batch_size: int) -> int:
    """Steps for one pass over the larger domain (the shorter one cycles)."""
    return max(1, -(-max(n_source, n_target) // batch_size))
