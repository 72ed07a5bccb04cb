"""The batch-selection cores on plain vectors (numpy, Euclidean distance): k-center greedy (core-set), LCMD (largest
cluster, maximum distance) and k-means++ seeding. Each returns (picked row indices in pick order, the score of each
pick at the time it was picked); ties go to the lowest row index, so a caller that passes rows in mol_id order gets
a choice that does not depend on the table's order. Each is sequential: the first m picks of k are the picks of m."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def _squared_distances(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    import numpy as np

    diff = points - centre[None, :]
    return np.einsum("ij,ij->i", diff, diff)


def _nearest(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(squared distance to the nearest centre, its index) per point; inf and -1 without centres."""
    import numpy as np

    best = np.full(len(points), np.inf)
    which = np.full(len(points), -1, dtype=np.int64)
    for index, centre in enumerate(centres):
        d = _squared_distances(points, centre)
        closer = d < best
        best[closer], which[closer] = d[closer], index
    return best, which


def kcenter_greedy(points: np.ndarray, centres: np.ndarray, k: int, threshold: float | None = None):
    """Farthest-first traversal: each pick is the point farthest from its nearest centre (the `centres`, then the
    earlier picks); score = that distance. Without centres the first pick is row 0 (score NaN). `threshold`: stop
    when the farthest distance falls below it (k then bounds nothing but the pool)."""
    import numpy as np

    points = np.asarray(points, dtype=np.float64)
    nearest, _ = _nearest(points, np.asarray(centres, dtype=np.float64).reshape(-1, points.shape[1]))
    limit = len(points) if threshold is not None else min(k, len(points))
    picked, scores = [], []
    available = np.ones(len(points), dtype=bool)
    while len(picked) < limit:
        candidate = np.where(available, nearest, -np.inf)
        index = int(np.argmax(candidate))
        distance = float(np.sqrt(candidate[index])) if np.isfinite(candidate[index]) else float("nan")
        if threshold is not None and not distance >= threshold:
            break
        picked.append(index)
        scores.append(distance)
        available[index] = False
        nearest = np.minimum(nearest, _squared_distances(points, points[index]))
    return np.asarray(picked, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def lcmd_greedy(points: np.ndarray, centres: np.ndarray, k: int, threshold: float | None = None):
    """LCMD (Holzmueller et al. 2023, bmdal-reg): assign every point to its nearest centre (the `centres`, then the
    earlier picks); take the cluster with the largest sum of squared distances to its centre, and pick its point
    farthest from that centre; score = that distance. Without centres the first pick is row 0 (score NaN). Once all
    remaining points sit on a centre (distance 0), the rest follow in row order with score 0. `threshold`: stop
    when the pick's distance falls below it."""
    import numpy as np

    points = np.asarray(points, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, points.shape[1])
    nearest, cluster = _nearest(points, centres)
    n_centres = len(centres)
    limit = len(points) if threshold is not None else min(k, len(points))
    picked, scores = [], []
    available = np.ones(len(points), dtype=bool)
    while len(picked) < limit:
        if n_centres == 0:
            index, distance = 0, float("nan")
        else:
            size = np.bincount(cluster[available], weights=nearest[available], minlength=n_centres)
            largest = int(np.argmax(size))
            members = np.where(available & (cluster == largest), nearest, -np.inf)
            index = int(np.argmax(members))
            distance = float(np.sqrt(max(members[index], 0.0)))
        if threshold is not None and not distance >= threshold:
            break
        picked.append(index)
        scores.append(distance)
        available[index] = False
        d = _squared_distances(points, points[index])
        closer = d < nearest
        nearest[closer], cluster[closer] = d[closer], n_centres
        n_centres += 1
    return np.asarray(picked, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def kmeanspp_seeding(points: np.ndarray, k: int, seed: int):
    """k-means++ seeding as BADGE runs it (Ash et al. 2020): the first pick is the point of largest norm, each next
    one is drawn with probability proportional to its squared distance to the nearest earlier pick (numpy's
    default_rng(seed), one uniform draw per pick); score = that distance (the first: its norm). Points on an earlier
    pick are never drawn; when every remaining point is, the rest follow in row order with score 0."""
    import numpy as np

    points = np.asarray(points, dtype=np.float64)
    rng = np.random.default_rng(seed)
    limit = min(k, len(points))
    norms = np.einsum("ij,ij->i", points, points)
    picked = [int(np.argmax(norms))] if limit else []
    scores = [float(np.sqrt(norms[picked[0]]))] if limit else []
    nearest = _squared_distances(points, points[picked[0]]) if limit else norms
    available = np.ones(len(points), dtype=bool)
    if limit:
        available[picked[0]] = False
    while len(picked) < limit:
        weights = np.where(available, nearest, 0.0)
        total = weights.sum()
        draw = rng.random()
        if total > 0:
            index = int(np.searchsorted(np.cumsum(weights), draw * total, side="right"))
            index = min(index, len(points) - 1)
            while not available[index] or weights[index] == 0:  # rounding at the top end of the cumulative sum
                index -= 1
        else:
            index = int(np.argmax(available))
        picked.append(index)
        scores.append(float(np.sqrt(max(nearest[index], 0.0))))
        available[index] = False
        nearest = np.minimum(nearest, _squared_distances(points, points[index]))
    return np.asarray(picked, dtype=np.int64), np.asarray(scores, dtype=np.float64)
