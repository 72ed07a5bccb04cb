"""The batch-selection cores against independent references on toy 2-D points: k-center greedy = a brute-force
farthest-point search, LCMD = its definition with explicit loops (and a hand case), k-means++ = BADGE's seeding
written out draw by draw; each prefix-consistent (the first 50 picks of 185 are the picks of 50)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from molpeft_cli.selection.greedy import kcenter_greedy, kmeanspp_seeding, lcmd_greedy


def points(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 2))


def brute_farthest_point(pool: list, centres: list, k: int) -> tuple[list[int], list[float]]:
    chosen, scores = [], []
    for _ in range(k):
        best, best_d = None, -1.0
        for i, p in enumerate(pool):
            if i in chosen:
                continue
            d = min(math.dist(p, c) for c in centres + [pool[j] for j in chosen])
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
        scores.append(best_d)
    return chosen, scores


def brute_lcmd(pool: list, centres: list, k: int) -> tuple[list[int], list[float]]:
    chosen, scores = [], []
    for _ in range(k):
        all_centres = centres + [pool[j] for j in chosen]
        clusters: dict[int, list[tuple[float, int]]] = {}
        for i, p in enumerate(pool):
            if i in chosen:
                continue
            distances = [math.dist(p, c) for c in all_centres]
            nearest = min(range(len(all_centres)), key=lambda c: (distances[c], c))
            clusters.setdefault(nearest, []).append((distances[nearest], i))
        largest = max(sorted(clusters), key=lambda c: sum(d * d for d, _ in clusters[c]))
        distance, index = max(clusters[largest], key=lambda t: (t[0], -t[1]))
        chosen.append(index)
        scores.append(distance)
    return chosen, scores


def test_kcenter_equals_brute_force_farthest_point_search():
    pool, centres = points(60, 0), points(8, 1)
    picked, scores = kcenter_greedy(pool, centres, 20)
    expected, expected_scores = brute_farthest_point(pool.tolist(), centres.tolist(), 20)
    assert picked.tolist() == expected
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-12)
    assert np.all(np.diff(scores) <= 1e-12)  # farthest-first: distances never grow


def test_kcenter_threshold_stops_at_the_distance():
    pool, centres = points(60, 0), points(8, 1)
    full, scores = kcenter_greedy(pool, centres, 60)
    cut, cut_scores = kcenter_greedy(pool, centres, 5, threshold=0.5)
    assert cut.tolist() == full[scores >= 0.5].tolist() and np.all(cut_scores >= 0.5)


def test_lcmd_equals_its_definition_with_loops():
    pool, centres = points(50, 2), points(6, 3)
    picked, scores = lcmd_greedy(pool, centres, 25)
    expected, expected_scores = brute_lcmd(pool.tolist(), centres.tolist(), 25)
    assert picked.tolist() == expected
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-12)


def test_lcmd_by_hand_on_a_line():
    # one training point at 0; pool at 1, 2, 10, 11. All sit in 0's cluster: pick 11 (farthest). Then 10 joins
    # 11's cluster (sum 1) while 1 and 2 stay with 0 (sum 1 + 4 = 5): pick 2. Then 1 stays with 0 (as near to 0 as
    # to 2: the earlier centre keeps it) and 0's cluster (sum 1) ties 11's (sum 1): the earlier centre wins, so 1,
    # then 10.
    pool = np.array([[1.0, 0.0], [2.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    picked, scores = lcmd_greedy(pool, np.zeros((1, 2)), 4)
    assert picked.tolist() == [3, 1, 0, 2]
    assert scores.tolist() == [11.0, 2.0, 1.0, 1.0]
    # k-center after 11: 1 and 2 are 1 and 2 from 0, 10 is 1 from 11, so 2
    assert kcenter_greedy(pool, np.zeros((1, 2)), 2)[0].tolist() == [3, 1]


def reference_kmeanspp(pool: np.ndarray, k: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    norms = [float(p @ p) for p in pool]
    chosen = [max(range(len(pool)), key=lambda i: (norms[i], -i))]
    while len(chosen) < k:
        d2 = [0.0 if i in chosen else min(float((p - pool[j]) @ (p - pool[j])) for j in chosen)
              for i, p in enumerate(pool)]
        target = rng.random() * sum(d2)
        running = 0.0
        for i, w in enumerate(d2):
            running += w
            if running > target:
                chosen.append(i)
                break
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_kmeanspp_equals_badge_seeding_drawn_by_hand(seed):
    pool = points(40, 4)
    picked, scores = kmeanspp_seeding(pool, 15, seed)
    assert picked.tolist() == reference_kmeanspp(pool, 15, seed)
    assert scores[0] == pytest.approx(np.linalg.norm(pool, axis=1).max())
    assert len(set(picked.tolist())) == 15


def test_kmeanspp_draws_in_proportion_to_squared_distance():
    # three far points and one at the first pick: the second pick is never the duplicate, and the far point that is
    # twice as far is drawn about 4 times as often as the near one
    pool = np.array([[10.0, 0.0], [10.0, 0.0], [8.0, 0.0], [6.0, 0.0]])
    counts = np.bincount([kmeanspp_seeding(pool, 2, seed)[0][1] for seed in range(2000)], minlength=4)
    assert counts[0] == 0 and counts[1] == 0
    assert counts[3] / counts[2] == pytest.approx(4.0, rel=0.15)


@pytest.mark.parametrize("core", ["kcenter", "lcmd", "kmeanspp"])
def test_the_first_picks_of_a_larger_budget_are_the_smaller_budget(core):
    pool, centres = points(300, 5), points(20, 6)
    run = {"kcenter": lambda k: kcenter_greedy(pool, centres, k), "lcmd": lambda k: lcmd_greedy(pool, centres, k),
           "kmeanspp": lambda k: kmeanspp_seeding(pool, k, 3)}[core]
    big, big_scores = run(185)
    small, small_scores = run(50)
    assert big[:50].tolist() == small.tolist()
    np.testing.assert_array_equal(big_scores[:50], small_scores)
