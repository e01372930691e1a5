"""Batched misorientation: midas C++ (1 and 2 threads) vs the NumPy twin, and hkl-table build time.

Pairs of random orientations with cubic (24 operators) and hexagonal (12) Laue symmetry; also the
all-pairs matrix that grain clustering needs. Prints pairs per second and speed ratios.
"""

from __future__ import annotations

import time

import numpy as np

from midas import parallel
from midas._reference import crystal as ref
from midas.crystal import Lattice, hkl_table
from midas.crystal.orientation import quat_canonical, quat_to_matrix
from midas.crystal.symmetry import laue_rotations, misorientation, misorientation_matrix


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    a = quat_to_matrix(quat_canonical(rng.normal(size=(n, 4))))
    b = quat_to_matrix(quat_canonical(rng.normal(size=(n, 4))))
    for sg, name in ((225, "cubic, 24 ops"), (194, "hexagonal, 12 ops")):
        rots = laue_rotations(sg)
        n_ref = 20_000
        t_ref = best_of(lambda: ref.misorientation(a[:n_ref], b[:n_ref], rots), 3) / n_ref
        print(f"{name}: NumPy twin            {1 / t_ref:12,.0f} pairs/s")
        for threads in (1, 2):
            with parallel.threads(threads):
                t = best_of(lambda: misorientation(a, b, sg)) / n
                t_ax = best_of(lambda: misorientation(a, b, sg, return_axis=True)) / n
            print(
                f"{name}: midas C++ {threads} thread(s) {1 / t:12,.0f} pairs/s ({t_ref / t:6.1f}x twin); "
                f"with axis {1 / t_ax:12,.0f} pairs/s"
            )
        k = 2000
        for threads in (1, 2):
            with parallel.threads(threads):
                t = best_of(lambda: misorientation_matrix(a[:k], b[:k], sg), 3) / (k * k)
            print(f"{name}: all pairs {k}x{k}, {threads} thread(s) {1 / t:12,.0f} pairs/s")
    lat = Lattice(4.7608, 4.7608, 12.99568, 90, 90, 120)
    hkl_table(167, lat, 0.172979, 1e6, 3e5)  # warm the generation cache once
    t_cold = best_of(lambda: hkl_table(167, Lattice(4.76, 4.76, 13.0, 90, 90, 120), 0.172979, 1e6, 3e5), 3)
    print(f"hkl_table (ruby, {len(hkl_table(167, lat, 0.172979, 1e6, 3e5))} rows, cached order): {t_cold * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
