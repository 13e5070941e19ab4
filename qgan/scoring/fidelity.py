"""Fidelity and diversity of generated samples, on classifier features and probabilities.

Features: real ``X (n, D)`` and generated ``Y (m, D)``; distances are Euclidean, computed in
blocks so memory stays ``O(block x max(n, m))``.

- KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel ``k(a, b) = (a.b / D + 1)^3``,
  averaged over random subsets of equal size; reported with its standard deviation.
- Precision and recall (Kynkaanniemi et al. 2019, k = 3): each real sample owns a ball of
  radius ``r_k(x)``, its distance to its k-th nearest distinct real neighbour; precision is the
  share of generated samples inside some real ball; recall the share of real samples inside
  some generated ball (radii from the generated set's distinct points, so repeated images do
  not shrink the balls to 0).
- Density and coverage (Naeem et al. 2020, k = 5): density
  ``(1 / (k m)) sum_j sum_i 1[||y_j - x_i|| <= r_k(x_i)]``; coverage
  ``(1 / n) sum_i 1[min_j ||x_i - y_j|| <= r_k(x_i)]``.
- From class probabilities ``P (m, 10)``: the histogram of predicted digits, its entropy and
  KL divergence to uniform (mode coverage), and the classifier-based Inception Score
  ``exp(E_x KL(p(y|x) || p(y)))`` over ``splits`` equal splits of a fixed shuffle (mean and std).
"""
from __future__ import annotations

import numpy as np
import torch

BLOCK = 2048  # rows per block of pairwise distances


def pairwise_distances(a: np.ndarray, b: np.ndarray, block: int = BLOCK):
    """Yield ``(start, D)`` with ``D (rows, len(b))`` the distances of ``a[start:start+rows]`` to ``b``."""
    tb = torch.as_tensor(np.asarray(b, dtype=np.float32))
    for start in range(0, len(a), block):
        ta = torch.as_tensor(np.asarray(a[start:start + block], dtype=np.float32))
        yield start, torch.cdist(ta, tb).numpy()


def kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """``(n,)`` distance of each row of ``x`` to its k-th nearest *distinct* other row.

    Exact duplicates are merged first: a generator that repeats few images would otherwise give
    every copy a radius of 0 (its k-th neighbour is a copy of itself), which makes recall exactly
    0 whatever the images are, a tie artefact rather than a graded measure. On rows without
    duplicates this is the usual k-NN radius (prdc's, Kynkaanniemi et al.'s)."""
    unique, inverse = np.unique(np.asarray(x), axis=0, return_inverse=True)
    radii = np.zeros(len(unique))  # at most k distinct rows own no balls
    if len(unique) > k:
        for start, d in pairwise_distances(unique, unique):
            # the row itself is at distance 0: the k-th neighbour is the (k+1)-th smallest
            radii[start:start + len(d)] = np.partition(d, k, axis=1)[:, k]
    return radii[inverse.reshape(-1)]


NEIGHBOUR_METRICS = ("precision", "recall", "density", "coverage")  # one pass of k-NN distances gives all four


def neighbour_metrics(real: np.ndarray, fake: np.ndarray, real_radii: dict[int, np.ndarray] | None = None,
                      k_pr: int = 3, k_dc: int = 5, metrics: tuple[str, ...] = NEIGHBOUR_METRICS
                      ) -> dict[str, float]:
    """Precision and recall at ``k_pr``, density and coverage at ``k_dc`` of ``fake (m, D)`` against
    ``real (n, D)`` (those of them ``metrics`` names), from one pass over the ``(m, n)`` distances.
    Only recall needs the fake set's own radii (an ``(m, m)`` pass and a partition, the dearest
    part), so they are computed only when it is asked for. ``real_radii``:
    ``{k: kth_neighbour_radii(real, k)}`` if already known."""
    unknown = set(metrics) - set(NEIGHBOUR_METRICS)
    if unknown:
        raise ValueError(f"not a k-NN metric: {sorted(unknown)}")
    radii = real_radii or {k: kth_neighbour_radii(real, k) for k in (k_pr, k_dc)}
    fake_radii = kth_neighbour_radii(fake, k_pr) if "recall" in metrics else None
    in_real_ball = np.zeros(len(fake), dtype=bool)   # precision: fake j inside some real ball
    in_fake_ball = np.zeros(len(real), dtype=bool)   # recall: real i inside some fake ball
    nearest = np.full(len(real), np.inf)             # coverage: distance of real i to its nearest fake
    within = 0                                       # density: fake-in-real-ball pairs
    for start, d in pairwise_distances(fake, real):  # d: (block of fake, n real)
        if "precision" in metrics:
            in_real_ball[start:start + len(d)] = (d <= radii[k_pr][None, :]).any(axis=1)
        if fake_radii is not None:
            in_fake_ball |= (d <= fake_radii[start:start + len(d), None]).any(axis=0)
        if "density" in metrics:
            within += int((d <= radii[k_dc][None, :]).sum())
        if "coverage" in metrics:
            np.minimum(nearest, d.min(axis=0), out=nearest)
    every = {"precision": lambda: float(in_real_ball.mean()), "recall": lambda: float(in_fake_ball.mean()),
             "density": lambda: within / (k_dc * len(fake)), "coverage": lambda: float((nearest <= radii[k_dc]).mean())}
    return {m: every[m]() for m in metrics}


def cubic_kernel(k: np.ndarray) -> np.ndarray:
    """``k ** 3`` elementwise as two products (numpy's ``**`` takes a slow pow path: ~8x)."""
    return k * k * k


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Unbiased KID over ``subsets`` random subsets of ``min(subset_size, n, m)``: (mean, std)."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    s, d = min(subset_size, len(x), len(y)), x.shape[1]
    values = []
    for _ in range(subsets):
        a, b = x[rng.choice(len(x), s, replace=False)], y[rng.choice(len(y), s, replace=False)]
        kxx, kyy, kxy = cubic_kernel(a @ a.T / d + 1), cubic_kernel(b @ b.T / d + 1), cubic_kernel(a @ b.T / d + 1)
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (s * (s - 1))
        values.append(off - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def class_statistics(probs: np.ndarray, splits: int = 10) -> dict:
    """Histogram of predicted classes, its entropy and KL to uniform (nats), and the Inception
    Score of ``probs (m, C)`` (mean and std over ``splits`` splits)."""
    p = np.asarray(probs, dtype=np.float64)
    classes = p.shape[1]
    counts = np.bincount(p.argmax(1), minlength=classes)
    share = counts / counts.sum()
    nonzero = share[share > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum())
    scores = []
    shuffled = p[np.random.default_rng(0).permutation(len(p))]  # splits must not follow any ordering
    for part in np.array_split(shuffled, max(1, min(splits, len(p)))):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None)))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return {"class_counts": counts.tolist(), "class_entropy": entropy,
            "class_kl_uniform": float(np.log(classes) - entropy),
            "inception_score": float(np.mean(scores)), "inception_score_std": float(np.std(scores))}
