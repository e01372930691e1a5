"""PNG plots of integration results: the cake image and a lineout with its fitted peaks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from midas.integration.peakfit import PeakFit, pseudo_voigt
from midas.io._atomic import discard, temp_path_for

__all__ = ["plot_cake", "plot_lineout"]


def _save(fig: object, path: Path) -> Path:
    tmp = temp_path_for(path)
    try:
        fig.savefig(tmp, format="png", dpi=110)  # type: ignore[attr-defined]
    except BaseException:
        discard(tmp)
        raise
    tmp.replace(path)
    return path


def plot_cake(path: str | Path, cake: NDArray[np.float64], *, tth_deg: NDArray[np.float64],
              eta_edges_deg: NDArray[np.float64], title: str = "") -> Path:
    """Cake image ``(n_r, n_eta)``: 2θ horizontally, η vertically, log colour scale; NaN grey.

    Returns
    -------
    Path
        The written PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    c = np.asarray(cake, dtype=np.float64).T
    pos = c[np.isfinite(c) & (c > 0)]
    norm = LogNorm(vmin=max(float(np.percentile(pos, 1)), 1e-12), vmax=float(pos.max())) if pos.size else None
    fig, ax = plt.subplots(figsize=(9, 5))
    extent = (float(tth_deg[0]), float(tth_deg[-1]), float(eta_edges_deg[0]), float(eta_edges_deg[-1]))
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.6")
    im = ax.imshow(np.ma.masked_invalid(c), origin="lower", aspect="auto", extent=extent, norm=norm, cmap=cmap,
                   interpolation="nearest")
    ax.set_xlabel("2θ (deg)")
    ax.set_ylabel("η (deg)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="intensity per pixel")
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def plot_lineout(path: str | Path, x: NDArray[np.float64], y: NDArray[np.float64], *,
                 fits: Sequence[PeakFit] = (), x_label: str = "R (px)", title: str = "") -> Path:
    """Lineout with the fitted peak profiles (background included) and their centres.

    Returns
    -------
    Path
        The written PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(x, y, lw=0.8, color="k", label="lineout")
    for k, f in enumerate(fits):
        lo, hi = f.window
        xs = x[lo:hi]
        model = f.area * pseudo_voigt(xs, f.centre, f.fwhm, f.mixing) + f.background
        ax.plot(xs, model, lw=1.0, color="tab:red", label="fit" if k == 0 else None)
        ax.axvline(f.centre, color="tab:red", lw=0.5, alpha=0.5)
    ax.set_xlabel(x_label)
    ax.set_ylabel("intensity per pixel")
    ax.set_title(title)
    if fits:
        ax.legend(loc="upper right")
    fig.tight_layout()
    out = _save(fig, Path(path))
    plt.close(fig)
    return out
