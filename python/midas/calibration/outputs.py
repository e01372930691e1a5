"""Output files of a calibration run.

- ``refined_MIDAS_params.txt`` — the input parameter file (all its keys, so ``midas ff`` and
  ``midas integrate`` read it directly) with the refined geometry written in: ``Lsd``, ``BC``,
  ``tx``/``ty``/``tz``, ``p0``..``p14``, ``RhoD``, ``px``, ``Wavelength``, ``NrPixelsY/Z``; the
  calibrant and integration bins are added only when absent. Written with :mod:`midas.params`.
- a per-ring strain table (CSV);
- an HDF5 file of the intermediate data (``-SavePlotsHDF``): raw, background and thresholded
  images, ring overlays, and the strain against 2θ of every iteration;
- PNG plots (``-MakePlots``): ring overlay and strain against 2θ.

Every file is written to a temporary name in the target folder and renamed when complete.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from midas.calibration.autocal import CalibrationResult, ideal_ring_pixels
from midas.io._atomic import atomic_output, discard, temp_path_for
from midas.params import MidasParams

__all__ = ["refined_params", "write_hdf5", "write_plots", "write_refined_params", "write_ring_table"]

RING_TABLE_COLUMNS = ("RingNr", "h", "k", "l", "d_A", "TwoTheta_deg", "RadiusIdeal_um", "nPoints", "nUsed",
                      "MeanStrain_ue", "MeanAbsStrain_ue", "RMSStrain_ue", "Excluded")


def refined_params(result: CalibrationResult, base: MidasParams | None = None, *,
                   im_trans_opt: tuple[int, ...] = (0,), panel_shifts_file: str = "panel_shifts.txt") -> MidasParams:
    """Parameter set with the refined geometry.

    Parameters
    ----------
    result : CalibrationResult
    base : MidasParams, optional
        The run's parameter file; every key it has is kept, the geometry keys are replaced.
    im_trans_opt : tuple of int
        ``ImTransOpt`` of the run (written when not 0 or when the base has it).
    panel_shifts_file : str
        Value of ``PanelShiftsFile`` for a detector with panels (the panel layout keys are written
        too).

    Returns
    -------
    MidasParams

    Raises
    ------
    ParamError
        A base whose other values contradict the new geometry (see ``MidasParams.validate``).
    """
    det = result.detector
    n_y, n_z = det.n_pixels
    values: dict[str, Any] = {
        "Lsd": round(det.lsd_um, 4),
        "BC": (round(det.bc_px[0], 5), round(det.bc_px[1], 5)),
        "tx": det.tx_deg, "ty": round(det.ty_deg, 8), "tz": round(det.tz_deg, 8),
        "px": det.pixel_size_um[0],
        "Wavelength": result.wavelength_A,
        "RhoD": round(det.rho_d_um, 4),
        "NrPixelsY": int(n_y), "NrPixelsZ": int(n_z),
    }
    for k, v in enumerate(det.distortion):
        values[f"p{k}"] = float(f"{v:.10g}")
    if det.panels is not None:
        values.update(det.panels.to_params())
        values["PanelShiftsFile"] = panel_shifts_file
    if base is None or "ImTransOpt" in base or any(op not in (0, -1) for op in im_trans_opt):
        values["ImTransOpt"] = list(im_trans_opt)
    has = (lambda key: key in base) if base is not None else (lambda key: False)
    if result.calibrant is not None and not (has("SpaceGroup") or has("DSpacing")):
        values.update(result.calibrant.to_params())
    corner = math.ceil(max(math.hypot(cy - det.bc_px[0], cz - det.bc_px[1])
                           for cy in (0, n_y - 1) for cz in (0, n_z - 1)))
    for key, default in (("RMin", 10), ("RMax", corner), ("RBinSize", 0.25), ("EtaMin", -180), ("EtaMax", 180),
                         ("EtaBinSize", 5)):
        if not has(key):
            values[key] = default
    if base is None:
        return MidasParams.from_mapping(values)
    return base.with_values(values)


def write_refined_params(path: str | Path, result: CalibrationResult, base: MidasParams | None = None, *,
                         im_trans_opt: tuple[int, ...] = (0,)) -> Path:
    """Write :func:`refined_params` to ``path`` (atomically); returns the path.

    For a detector with panels, the per-panel corrections go to ``panel_shifts.txt`` in the same
    folder (:func:`midas.io.panel_shifts.write_panel_shifts`, written first) and
    ``PanelShiftsFile`` holds its absolute path, so ``midas integrate`` and ``midas ff`` read it
    from anywhere.
    """
    target = Path(path)
    det = result.detector
    shifts_file = ""
    if det.panels is not None:
        from midas.io.panel_shifts import write_panel_shifts

        shifts_file = str(write_panel_shifts(target.parent / "panel_shifts.txt", det.panel_shifts_array).resolve())
    return refined_params(result, base, im_trans_opt=im_trans_opt, panel_shifts_file=shifts_file).write(target)


def write_ring_table(path: str | Path, result: CalibrationResult) -> Path:
    """Per-ring strain table (CSV, header :data:`RING_TABLE_COLUMNS`; strains in µε)."""
    p = Path(path)
    with atomic_output(p) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(RING_TABLE_COLUMNS)
        for r in result.rings:
            w.writerow([r.ring_nr, *r.hkl, f"{r.d_A:.7f}", f"{r.tth_deg:.6f}", f"{r.radius_um:.3f}", r.n_points,
                        r.n_used, f"{1e6 * r.mean_strain:.3f}", f"{1e6 * r.mean_abs_strain:.3f}",
                        f"{1e6 * r.rms_strain:.3f}", int(r.excluded)])
    return p


def _geometry_attrs(det: Any) -> dict[str, Any]:
    out = {"Lsd_um": det.lsd_um, "BC_y_px": det.bc_px[0], "BC_z_px": det.bc_px[1], "tx_deg": det.tx_deg,
           "ty_deg": det.ty_deg, "tz_deg": det.tz_deg, "RhoD_um": det.rho_d_um, "px_um": det.pixel_size_um[0]}
    out.update({f"p{k}": v for k, v in enumerate(det.distortion)})
    return out


def write_hdf5(path: str | Path, result: CalibrationResult) -> Path:
    """The intermediate data of a run (``-SavePlotsHDF``).

    Layout::

        images/raw, images/background (float32), images/thresholded (uint8), images/bad (uint8)
        ring_overlay/ring_<nr>        (2, n) float64: y, z pixels of the ideal ring (NaN off-detector)
        iterations/iter_<nn>/         ring_nr, tth_deg, eta_deg, strain, y_px, z_px, used; attrs: geometry,
                                      mean_strain, shift_px, seconds
        final/rings                   the per-ring table (compound dataset); attrs: geometry,
                                      mean_strain, noise_strain, converged, beam-centre detection,
                                      Lsd from ratios
    """
    import h5py

    p = Path(path)
    prep = result.prepared
    with atomic_output(p) as tmp, h5py.File(tmp, "w") as f:
        g = f.create_group("images")
        opts: dict[str, Any] = {"compression": "gzip", "compression_opts": 4}
        g.create_dataset("raw", data=prep.image.astype(np.float32), **opts)
        g.create_dataset("background", data=prep.background.astype(np.float32), **opts)
        g.create_dataset("thresholded", data=prep.ring_mask.astype(np.uint8), **opts)
        g.create_dataset("bad", data=prep.bad.astype(np.uint8), **opts)
        g.attrs["threshold_counts"] = prep.threshold
        ov = f.create_group("ring_overlay")
        tans = [math.tan(math.radians(r.tth_deg)) for r in result.rings]
        for r, (y, z) in zip(result.rings, ideal_ring_pixels(result.detector, tans)):
            ov.create_dataset(f"ring_{r.ring_nr:03d}", data=np.stack([y, z]))
        its = f.create_group("iterations")
        for i, rec in enumerate(result.iterations, start=1):
            gi = its.create_group(f"iter_{i:02d}")
            for name in ("ring_nr", "tth_deg", "eta_deg", "strain", "y_px", "z_px"):
                gi.create_dataset(name, data=np.asarray(getattr(rec, name)))
            gi.create_dataset("used", data=rec.used.astype(np.uint8))
            gi.attrs.update(_geometry_attrs(rec.detector))
            gi.attrs.update({"mean_strain": rec.mean_strain, "shift_px": rec.shift_px, "seconds": rec.seconds})
        fin = f.create_group("final")
        dt = np.dtype([("ring_nr", "i4"), ("h", "i4"), ("k", "i4"), ("l", "i4"), ("d_A", "f8"), ("tth_deg", "f8"),
                       ("radius_um", "f8"), ("n_points", "i4"), ("n_used", "i4"), ("mean_strain", "f8"),
                       ("mean_abs_strain", "f8"), ("rms_strain", "f8"), ("excluded", "u1")])
        rows = [(r.ring_nr, *r.hkl, r.d_A, r.tth_deg, r.radius_um, r.n_points, r.n_used, r.mean_strain,
                 r.mean_abs_strain, r.rms_strain, int(r.excluded)) for r in result.rings]
        fin.create_dataset("rings", data=np.array(rows, dtype=dt))
        fin.attrs.update(_geometry_attrs(result.detector))
        fin.attrs.update({"mean_strain": result.mean_strain, "noise_strain": result.noise_strain,
                          "converged": int(result.converged),
                          "wavelength_A": result.wavelength_A,
                          "bc_detected_y_px": result.beam_centre.bc_px[0],
                          "bc_detected_z_px": result.beam_centre.bc_px[1],
                          "lsd_from_ring_ratios_um": result.distance.lsd_um})
    return p


def _save_png(fig: Any, path: Path) -> Path:
    tmp = temp_path_for(path)
    try:
        fig.savefig(tmp, format="png", dpi=100)
    except BaseException:
        discard(tmp)
        raise
    tmp.replace(path)
    return path


def write_plots(folder: str | Path, result: CalibrationResult, *, prefix: str = "") -> list[Path]:
    """``-MakePlots``: ``<prefix>ring_overlay.png`` and ``<prefix>strain_vs_2theta.png`` in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(folder)
    prep = result.prepared
    fig, ax = plt.subplots(figsize=(9, 9))
    shown = np.where(prep.bad, np.nan, np.log10(np.clip(prep.image, 1.0, None)))
    ax.imshow(shown, cmap="gray", origin="upper", interpolation="nearest")
    tans = [math.tan(math.radians(r.tth_deg)) for r in result.rings]
    for r, (y, z) in zip(result.rings, ideal_ring_pixels(result.detector, tans)):
        ax.plot(y, z, "-", lw=0.6, color="tab:red" if r.excluded else "tab:cyan")
    ax.plot(*result.detector.bc_px, "r+", ms=12)
    ax.set_xlabel("y (column, px)")
    ax.set_ylabel("z (row, px)")
    ax.set_title(f"refined rings: Lsd {result.detector.lsd_um:.1f} µm, BC ({result.detector.bc_px[0]:.2f}, "
                 f"{result.detector.bc_px[1]:.2f}) px")
    paths = [_save_png(fig, out_dir / f"{prefix}ring_overlay.png")]
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 5))
    rec = result.iterations[-1]
    ax.plot(rec.tth_deg[rec.used], 1e6 * rec.strain[rec.used], ".", ms=3, label="used")
    ax.plot(rec.tth_deg[~rec.used], 1e6 * rec.strain[~rec.used], "x", ms=3, color="0.6", label="rejected")
    rings = [r for r in result.rings if r.n_used]
    ax.plot([r.tth_deg for r in rings], [1e6 * r.mean_strain for r in rings], "o", color="tab:red",
            label="ring mean")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("2θ (deg)")
    ax.set_ylabel("pseudo-strain (µε)")
    ax.set_title(f"mean |strain| {1e6 * result.mean_strain:.1f} µε after {len(result.iterations)} iterations")
    ax.legend()
    fig.tight_layout()
    paths.append(_save_png(fig, out_dir / f"{prefix}strain_vs_2theta.png"))
    plt.close(fig)
    return paths
