"""The consolidated FF result file ``<stem>_consolidated.h5`` (upstream ff_MIDAS.py's layout).

Layout (upstream_facts.md §3.12), with every table's ``column_names`` attribute naming its
columns correctly (upstream's own file mislabels the grain columns and points the per-grain
``confidence`` and ``radius`` at other columns)::

    parameters/<Key>                 every parameter of the run
    hkls/data (N, 11)                hkls.csv rows
    peaks/per_frame/data (P, 30)     FrameNr + the 29 peak-search columns
    peaks/summary/data (M, 17)       merged spots (Result_*.csv)
    merge_map/{MergedSpotID, FrameNr, PeakID}
    radius_data/<Col>                one 1-D dataset per Radius_*.csv column
    all_spots/data (N, 18)           InputAllExtraInfoFittingAll.csv rows
    spots_to_index/data, id_rings/data, ids_hash/data
    grains/summary (G, 47)           Grains.csv rows
    grains/grain_<id>/{orientation, position, lattice_params_fit, euler_angles, strain_fable,
                       strain_kenesei, confidence, radius, rms_strain_error, phase_nr, grain_id,
                       diff_pos, diff_ome, diff_angle,
                       spots/{spotid, omega, dety, detz, omeraw, eta, ringnr, ylab, zlab, theta,
                              strainerror}}
    spot_matrix/data (S, 12)         SpotMatrix.csv rows
    grain_ids_key/data (G, K)        GrainIDsKey.csv, padded with -1
    raw_data_ref/zarr_path           the frames the run read

Front-half groups are written when the run's checkpoint holds those stages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_consolidated"]

log = logging.getLogger(__name__)

_HKL_COLUMNS = ("h", "k", "l", "D-spacing", "RingNr", "g1", "g2", "g3", "Theta", "2Theta", "Radius")


def _table(group: Any, name: str, data: Any, columns: Any) -> None:
    ds = group.create_dataset(name, data=np.asarray(data))
    ds.attrs["column_names"] = np.array([str(c) for c in columns], dtype=object)


def _parameters(f: Any, p: Any) -> None:
    import h5py

    g = f.create_group("parameters")
    for key, value in p.items():
        try:
            if isinstance(value, str):
                g.create_dataset(key, data=value, dtype=h5py.string_dtype())
            else:
                g.create_dataset(key, data=np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            g.create_dataset(key, data=str(value), dtype=h5py.string_dtype())


def _front(f: Any, ck: Any) -> None:
    if ck is None:
        return
    if "peaksearch" in ck:
        from midas.ff.peaksearch import PS_COLUMNS

        peaks = ck.get("peaksearch")
        rows = np.column_stack([np.asarray(peaks.frame, dtype=np.float64), peaks.rows])
        _table(f.create_group("peaks/per_frame"), "data", rows, ("FrameNr",) + PS_COLUMNS)
    if "merge" in ck:
        from midas.ff.merge import RESULT_COLUMNS

        merged = ck.get("merge")
        _table(f.create_group("peaks/summary"), "data", merged.rows, RESULT_COLUMNS)
        counts = np.diff(np.asarray(merged.member_start))
        spot_id = np.repeat(np.arange(1, len(counts) + 1), counts)
        peak = np.asarray(merged.member_peak)
        g = f.create_group("merge_map")
        g.create_dataset("MergedSpotID", data=spot_id)
        g.create_dataset("FrameNr", data=np.asarray(merged.peaks.frame)[peak])
        g.create_dataset("PeakID", data=peak)
    if "radius" in ck:
        from midas.ff.radius import RADIUS_COLUMNS

        rs = ck.get("radius")
        g = f.create_group("radius_data")
        for k, name in enumerate(RADIUS_COLUMNS):
            g.create_dataset(name.replace("/", "_"), data=rs.rows[:, k])
    if "setup" in ck:
        from midas.ff.setup import EXTRA_INFO_COLUMNS

        st = ck.get("setup")
        _table(f.create_group("all_spots"), "data", st.extra_info, EXTRA_INFO_COLUMNS)
        f.create_group("spots_to_index").create_dataset("data", data=np.asarray(st.spots_to_index))
        _table(f.create_group("id_rings"), "data", st.id_rings, ("RingNumber", "OriginalID", "NewID"))
        _table(f.create_group("ids_hash"), "data", st.ids_hash, ("RingNumber", "StartID", "EndID", "DSpacing"))


def _grains(f: Any, grains: Any) -> None:
    from midas.io.grains_csv import GRAINS_COLUMNS
    from midas.io.spot_matrix import SPOT_MATRIX_COLUMNS

    t = grains.table
    g = f.create_group("grains")
    _table(g, "summary", t.to_matrix(), GRAINS_COLUMNS)
    sm = grains.spot_matrix
    sm_rows = np.column_stack([sm.to_dict()[c] for c in SPOT_MATRIX_COLUMNS]) if len(sm) else np.zeros((0, 12))
    _table(f.create_group("spot_matrix"), "data", sm_rows, SPOT_MATRIX_COLUMNS)
    spot_names = ("spotid", "omega", "dety", "detz", "omeraw", "eta", "ringnr", "ylab", "zlab", "theta",
                  "strainerror")
    for i in range(len(t)):
        gid = int(t.grain_id[i])
        gg = g.create_group(f"grain_{gid}")
        gg.create_dataset("grain_id", data=gid)
        gg.create_dataset("orientation", data=t.orient_mat[i])
        gg.create_dataset("position", data=t.pos_um[i])
        gg.create_dataset("lattice_params_fit", data=t.lattice[i])
        gg.create_dataset("euler_angles", data=t.euler_raw[i])
        gg.create_dataset("strain_fable", data=t.strain_fab[i] * 1e6)
        gg.create_dataset("strain_kenesei", data=t.strain_ken[i] * 1e6)
        gg.create_dataset("confidence", data=t.confidence[i])
        gg.create_dataset("radius", data=t.grain_radius_um[i])
        gg.create_dataset("rms_strain_error", data=t.rms_strain[i] * 1e6)
        gg.create_dataset("phase_nr", data=t.phase_nr[i])
        gg.create_dataset("diff_pos", data=t.diff_pos_um[i])
        gg.create_dataset("diff_ome", data=t.diff_ome_deg[i])
        gg.create_dataset("diff_angle", data=t.diff_angle_deg[i])
        sel = sm.grain_id == gid
        sg = gg.create_group("spots")
        for name, col in zip(spot_names, SPOT_MATRIX_COLUMNS[1:]):
            sg.create_dataset(name, data=sm.to_dict()[col][sel])
    n_max = max((len(m) for m in grains.members), default=0)
    key = np.full((len(grains.members), 2 * n_max), -1, np.int64)
    for i, m in enumerate(grains.members):
        key[i, : 2 * len(m)] = np.asarray(m).ravel()
    _table(f.create_group("grain_ids_key"), "data", key,
           [f"{w}{k}" for k in range(n_max) for w in ("SpotID", "SeedPosition")])


def write_consolidated(path: str | Path, p: Any, grains: Any, ck: Any = None, *, settings: Any = None) -> Path:
    """Write the consolidated HDF5 of one layer.

    Parameters
    ----------
    path : path
        Output file (written to a temporary file, then renamed).
    p : MidasParams
        The run's parameters.
    grains : midas.ff.grains.GrainSet
    ck : midas.ff.checkpoint.Checkpoint, optional
        Source of the front-half tables.
    settings : midas.ff.pipeline.BackHalf, optional
        Unused today (kept for the reference lattice of future groups).

    Returns
    -------
    Path

    Raises
    ------
    FormatError
        The folder is not writable.
    """
    import h5py

    from midas.crystal import hkl_table_from_params
    from midas.errors import MidasError
    from midas.io._atomic import atomic_output

    out = Path(path)
    with atomic_output(out) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["creator"] = "midas ff"
        _parameters(f, p)
        try:
            hk = hkl_table_from_params(p)
            rows = np.column_stack([hk.hkl, hk.d_A, hk.ring_nr, hk.g_crystal, hk.theta_deg, hk.tth_deg,
                                    hk.radius_um])
            _table(f.create_group("hkls"), "data", rows, _HKL_COLUMNS)
        except MidasError as exc:  # the parameters of a -provideInputAll run may lack some keys
            log.info("consolidated file without hkls: %s", exc)
        _front(f, ck)
        _grains(f, grains)
        zp = ck.get("source").path if ck is not None and "source" in ck else ""
        f.create_group("raw_data_ref").create_dataset("zarr_path", data=str(zp), dtype=h5py.string_dtype())
    return out
