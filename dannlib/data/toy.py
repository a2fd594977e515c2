"""Toy domains: the paper's inter-twinning moons (target rotated) and shifted Gaussians."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.datasets import make_moons

from dannlib.data.base import Domain, DomainPair


def rotate(x: np.ndarray, angle_deg: float, center: np.ndarray | None = None) -> np.ndarray:
    """Rotate 2-D points by `angle_deg` degrees (counter-clockwise) about `center` (their mean)."""
    center = x.mean(axis=0) if center is None else np.asarray(center)
    t = math.radians(angle_deg)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return (x - center) @ r.T + center


def moons(n: int = 300, angle: float = 0.0, noise: float = 0.1, seed: int = 0) -> Domain:
    """Two moons (n points, balanced), rotated by `angle` degrees about the centre of the moons."""
    x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = rotate(x, angle, center=np.array([0.5, 0.25]))
    return Domain(
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(y),
        {"name": f"moons({angle:g} deg)", "source": "generated: sklearn make_moons", "seed": seed},
    )


def moons_pair(n: int = 300, angle: float = 35.0, noise: float = 0.1, seed: int = 0) -> DomainPair:
    """Source moons and target moons rotated by `angle`, each with a train and a test split."""
    return DomainPair(
        source=moons(n, 0.0, noise, seed),
        target=moons(n, angle, noise, seed + 1),
        source_test=moons(n, 0.0, noise, seed + 2),
        target_test=moons(n, angle, noise, seed + 3),
        task=f"moons->moons({angle:g} deg)",
    )


def label_rule(x: np.ndarray) -> np.ndarray:
    """The fixed labelling rule of the covariate-shift toy: a V-shaped boundary, 1 if x2 > |x1|."""
    return (x[:, 1] > np.abs(x[:, 0])).astype(np.int64)


def shifted_gaussians(
    n: int = 500, shift: float = 1.0, seed: int = 0, label_noise: float = 0.05
) -> DomainPair:
    """Covariate shift: source N(0, I); target N(m, I), m = `shift` units up the V's right arm.

    One labelling rule (`label_rule`) for both domains, with a fraction `label_noise` of labels
    flipped. The target sits on a straight part of the boundary, so a linear classifier can be
    right on the target although no linear classifier fits the whole source: what it learns
    depends on where the source mass is. Returns source, target and target_test (n points each).
    """
    rng = np.random.default_rng(seed)
    mean = shift * np.array([1.0, 1.0]) / math.sqrt(2.0)
    xs = rng.normal(size=(n, 2))
    xt = rng.normal(size=(n, 2)) + mean
    xt_test = rng.normal(size=(n, 2)) + mean

    def labels(x: np.ndarray) -> np.ndarray:
        y = label_rule(x)
        flip = rng.random(len(y)) < label_noise
        return np.where(flip, 1 - y, y)

    def domain(x: np.ndarray, name: str, split: str) -> Domain:
        info = {
            "name": name,
            "split": split,
            "seed": seed,
            "shift": shift,
            "source": "generated: Gaussian covariate shift, V-shaped labelling rule",
        }
        return Domain(torch.tensor(x, dtype=torch.float32), torch.tensor(labels(x)), info)

    target_name = f"target N(shift {shift:g}, I)"
    return DomainPair(
        source=domain(xs, "source N(0, I)", "train"),
        target=domain(xt, target_name, "train"),
        target_test=domain(xt_test, target_name, "test"),
        task=f"gaussians->gaussians(shift {shift:g})",
    )
