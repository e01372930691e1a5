"""Quick-look figures of an FF result: grain map coloured by IPF, completeness and strain histograms.

Written as PNG (matplotlib, Agg backend) next to Grains.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ipf_colors", "write_plots"]


def ipf_colors(orient_mat: Any, space_group: int, direction: Any = (0.0, 0.0, 1.0)) -> NDArray[np.float64]:
    """Inverse-pole-figure colours of a sample direction.

    Parameters
    ----------
    orient_mat : (N, 3, 3) float64
        Orientations (crystal → sample).
    space_group : int
        For the Laue group.
    direction : (3,) float
        Sample direction (default z, the rotation axis).

    Returns
    -------
    (N, 3) float64
        RGB in [0, 1]. Cubic groups use the standard triangle [001]-[101]-[111] (red, green,
        blue at its corners); other groups colour the absolute components of the symmetry-reduced
        crystal direction.
    """
    from midas.crystal.symmetry import laue_rotations

    u = np.asarray(orient_mat, dtype=np.float64)
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    dc = np.einsum("nji,j->ni", u, d)  # Uᵀ d
    sym = laue_rotations(int(space_group))
    if len(sym) == 24:
        a = np.sort(np.abs(dc), axis=1)  # x <= y <= z: the standard triangle
        rgb = np.column_stack([a[:, 2] - a[:, 1], a[:, 1] - a[:, 0], a[:, 0] * np.sqrt(3.0)])
    else:
        cand = np.einsum("sij,nj->nsi", sym, dc)
        best = np.argmax(np.abs(cand[:, :, 2]), axis=1)
        rgb = np.abs(cand[np.arange(len(dc)), best])
    rgb = np.clip(rgb, 0.0, None)
    m = rgb.max(axis=1, keepdims=True)
    return np.where(m > 0, rgb / np.where(m > 0, m, 1.0), 0.0)


def write_plots(folder: str | Path, grains: Any, config: Any = None) -> list[Path]:
    """Write ``grain_map.png`` (x-y and x-z positions coloured by the IPF of the sample z axis,
    marker area ∝ grain radius²) and ``grain_histograms.png`` (completeness, von Mises equivalent
    Fable–Beaudoin strain) into ``folder``.

    Parameters
    ----------
    folder : path
    grains : midas.ff.grains.GrainSet
    config : midas.ff.grains.GrainConfig, optional
        Its space group colours the IPF (default: the Grains.csv header's).

    Returns
    -------
    list of Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from midas.io._atomic import atomic_output

    t = grains.table
    folder = Path(folder)
    sg = int(config.space_group) if config is not None else int(t.header.space_group or 1)
    out = []
    n = len(t)
    colors = ipf_colors(t.orient_mat, sg) if n else np.zeros((0, 3))
    r = t.grain_radius_um if n else np.zeros(0)
    size = 10 + 60 * (r / r.max()) ** 2 if n and r.max() > 0 else np.full(n, 20.0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    for ax, (i, j, li, lj) in zip(axes, ((0, 1, "X", "Y"), (0, 2, "X", "Z"))):
        ax.scatter(t.pos_um[:, i], t.pos_um[:, j], c=colors, s=size, edgecolors="k", linewidths=0.3)
        ax.set_xlabel(f"{li} (µm)")
        ax.set_ylabel(f"{lj} (µm)")
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(f"{n} grains, colour: IPF of the sample Z axis (space group {sg})")
    target = folder / "grain_map.png"
    with atomic_output(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    out.append(target)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    axes[0].hist(t.confidence, bins=20, range=(0, 1), color="tab:blue")
    axes[0].set_xlabel("completeness (Confidence)")
    axes[0].set_ylabel("grains")
    e = t.strain_fab
    dev = e - np.trace(e, axis1=1, axis2=2)[:, None, None] / 3 * np.eye(3)
    vm = np.sqrt(2.0 / 3.0 * np.einsum("nij,nij->n", dev, dev)) * 1e6 if n else np.zeros(0)
    axes[1].hist(vm, bins=30, color="tab:orange")
    axes[1].set_xlabel("von Mises equivalent strain, Fable–Beaudoin (µε)")
    target = folder / "grain_histograms.png"
    with atomic_output(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    out.append(target)
    return out
