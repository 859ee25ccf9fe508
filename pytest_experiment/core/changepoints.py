"""Change points in a short sequence of run values: where a shift began.

E-divisive (Matteson and James, 2014, as Apache Otava, formerly hunter, uses it): the
split that maximises the energy distance between the runs before it and the runs from
it on, kept only when a permutation test says so, then each side searched again (binary
segmentation). The permutations come from a seeded generator: the same values always
give the same change points.

NumPy is imported inside ``change_points``: only a history long enough to have one pays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

MIN_SIZE = 2
"""Runs on each side of a change point: one run alone is noise, not a level."""
MIN_RUNS = 6
"""Shorter sequences cannot make a permutation test significant."""
PERMUTATIONS = 199
SIGNIFICANCE = 0.05
SEED = 20_250_101


def _energy(values: NDArray[np.float64], min_size: int) -> NDArray[np.float64]:
    """The divergence statistic of every admissible split, for each row of ``values``.

    ``values`` is (rows, n); the result is (rows, splits), split ``k`` putting the first
    ``min_size + k`` values on the left.
    """
    import numpy as np

    n = values.shape[1]
    distances = np.abs(values[:, :, None] - values[:, None, :])
    sums = np.zeros((values.shape[0], n + 1, n + 1))
    sums[:, 1:, 1:] = distances.cumsum(axis=1).cumsum(axis=2)
    taus = np.arange(min_size, n - min_size + 1)
    left = sums[:, taus, taus]
    cross = sums[:, taus, n] - left
    right = sums[:, n, n][:, None] - left - 2 * cross
    m, r = taus.astype(float), (n - taus).astype(float)
    between = 2 * cross / (m * r)
    within = left / (m * (m - 1)) + right / (r * (r - 1))
    result: NDArray[np.float64] = m * r / n * (between - within)
    return result


def change_points(
    values: Sequence[float],
    *,
    min_size: int = MIN_SIZE,
    permutations: int = PERMUTATIONS,
    significance: float = SIGNIFICANCE,
    seed: int = SEED,
) -> list[int]:
    """Indices where a new level begins (each the first run of its segment), ascending."""
    if len(values) < max(MIN_RUNS, 2 * min_size):
        return []
    import numpy as np

    generator = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    found: list[int] = []
    pending = [(0, len(data))]
    while pending:
        start, end = pending.pop(0)
        segment = data[start:end]
        if len(segment) < 2 * min_size:
            continue
        observed = _energy(segment[None, :], min_size)[0]
        best = int(np.argmax(observed))
        shuffled = generator.permuted(np.tile(segment, (permutations, 1)), axis=1)
        beaten = int((_energy(shuffled, min_size).max(axis=1) >= observed[best]).sum())
        if (beaten + 1) / (permutations + 1) > significance:
            continue
        split = start + min_size + best
        found.append(split)
        pending += [(start, split), (split, end)]
    return sorted(found)
