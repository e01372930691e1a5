"""Automatic calibration: midas vs pyFAI's headless route, on the same images and the same starts.

Images:

- ``pilatus``: the measured CeO2 image on the Pilatus 2M at APS 1-ID-C (../shared/data/real;
  reference geometry from its HEXRD instrument: Lsd 739 783 µm, BC (y, z) = (774.83, 807.08) px);
- ``synthetic``: a 2048² CeO2 frame (200 µm pixels, 1 m, λ 0.172973 Å, ty 0.4°, tz −0.3°, no
  distortion so that pyFAI's model can describe it) rendered through ``midas.geometry`` with
  Poisson noise.

Starts: no guess at all (midas only: pyFAI needs a starting geometry), ``-LsdGuess 700000`` for
the Pilatus image (the acceptance start), and 50 mm + 40 px off the reference on both sides.

midas: :func:`midas.calibration.calibrate_image` on the in-memory image (background, beam centre,
ring radii, distance, EM loop with the exact cake). pyFAI: ``SingleGeometry.extract_cp`` +
``GeometryRefinement.refine3`` (wavelength and rot3 fixed, as midas keeps tx fixed), repeated with
3, 6, 10 and all rings (each extraction uses the geometry refined so far), starting from
the same guess converted with :mod:`midas.io.poni`; its result is converted back to MIDAS
parameters to compute the errors. Times are wall-clock seconds of the calibration alone (image
already in memory). Pin the process to 2 cores for the target (``taskset -c 0,1``); the script sets
both libraries to 2 threads.

Usage: ``PYTHONPATH=python python3 benchmarks/bench_calibrate.py [--threads 2] [--no-pyfai]``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
from midas.geometry.panels import KNOWN_LAYOUTS

#: pyFAI passes: control points of the first n rings, refine, re-extract with the refined geometry.
PYFAI_RING_SCHEDULE = (3, 6, 10, None)
SHARED = Path(os.environ.get("MIDAS_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def pilatus_case():
    import h5py

    path = SHARED / "data/real/hexrd_pilatus2m_ceo2_aps1idc/ceria_50x30_740mm_000005_Pilatus2M.hdf5"
    if not path.exists():
        return None
    with h5py.File(path) as f:
        raw = f["imageseries/images"][0]
    from midas.geometry import FFDetector

    ref = FFDetector(lsd_um=739_783.0, bc_px=(774.83, 807.08), pixel_size_um=(172.0, 172.0),
                     n_pixels=(raw.shape[1], raw.shape[0]))
    return {"name": "pilatus", "raw": raw, "wavelength_A": 0.202152, "px": 172.0, "ref": ref,
            "starts": [("no guess", None, None), ("LsdGuess 700000", 700_000.0, None),
                       ("+50 mm, +40 px", ref.lsd_um + 50_000, (ref.bc_px[0] + 40, ref.bc_px[1])),
                       ("-50 mm, -40 px", ref.lsd_um - 50_000, (ref.bc_px[0] - 40, ref.bc_px[1]))]}


def synthetic_case():
    from midas.calibration.calibrants import get_calibrant
    from midas.calibration.synthetic import render_calibrant
    from midas.geometry import FFDetector

    det = FFDetector(lsd_um=1_000_000.0, bc_px=(1022.3, 1031.7), pixel_size_um=(200.0, 200.0), ty_deg=0.4,
                     tz_deg=-0.3, rho_d_um=290_000.0, n_pixels=(2048, 2048))
    syn = render_calibrant(det, get_calibrant("CeO2"), 0.172973, fwhm_px=1.8, peak_counts=4000.0, background=150.0,
                           supersample=3, seed=7, beamstop_radius_px=30.0)
    raw = syn.image
    return {"name": "synthetic 2048²", "raw": raw, "wavelength_A": 0.172973, "px": 200.0, "ref": det,
            "starts": [("no guess", None, None),
                       ("+20 mm, +15 px", det.lsd_um + 20_000, (det.bc_px[0] + 15, det.bc_px[1])),
                       ("+50 mm, +40 px", det.lsd_um + 50_000, (det.bc_px[0] + 40, det.bc_px[1])),
                       ("-50 mm, -40 px", det.lsd_um - 50_000, (det.bc_px[0] - 40, det.bc_px[1]))]}


def errors(det, ref) -> dict[str, float]:
    return {"dLsd_um": det.lsd_um - ref.lsd_um, "rel": det.lsd_um / ref.lsd_um - 1, "dBC_px": math.hypot(det.bc_px[0] - ref.bc_px[0],
                                                                    det.bc_px[1] - ref.bc_px[1]),
            "dty_deg": det.ty_deg - ref.ty_deg, "dtz_deg": det.tz_deg - ref.tz_deg}


def run_midas(case, lsd_guess, bc_guess, threads: int, panels: bool = False):
    from midas.calibration.autocal import CalibrationSettings, calibrate_image
    from midas.calibration.background import bad_pixels
    from midas.calibration.calibrants import get_calibrant
    from midas.calibration.refine import PanelFit
    from midas.geometry.panels import PanelLayout
    from midas.parallel import threads as n_threads

    raw = case["raw"]
    t0 = time.perf_counter()
    c0 = time.process_time()
    bad = bad_pixels(raw)
    img = np.where(bad, 0.0, raw.astype(np.float64))
    layout = PanelLayout.for_detector_shape((raw.shape[1], raw.shape[0])) if panels else None
    with n_threads(threads):
        res = calibrate_image(img, bad, calibrant=get_calibrant("CeO2"), wavelength_A=case["wavelength_A"],
                              pixel_size_um=case["px"], panels=layout,
                              settings=CalibrationSettings(lsd_guess_um=lsd_guess, bc_guess_px=bc_guess,
                                                           panel_fit=PanelFit() if panels else None))
    seconds = time.perf_counter() - t0
    return seconds, time.process_time() - c0, res


def run_pyfai(case, lsd_guess, bc_guess):
    from midas.io.poni import midas_to_poni, poni_to_midas
    from pyFAI.calibrant import get_calibrant as fai_calibrant
    from pyFAI.detectors import Detector
    from pyFAI.goniometer import SingleGeometry
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    raw = case["raw"]
    px = case["px"] * 1e-6
    lam = case["wavelength_A"] * 1e-10
    t0 = time.perf_counter()
    c0 = time.process_time()
    det = Detector(pixel1=px, pixel2=px, max_shape=raw.shape)
    det.mask = (raw < 0).astype(np.int8)
    start = midas_to_poni(lsd_um=lsd_guess, bc_px=bc_guess, px_um=case["px"], wavelength_A=case["wavelength_A"])
    ai = AzimuthalIntegrator(dist=start.dist_m, poni1=start.poni1_m, poni2=start.poni2_m, rot1=0.0, rot2=0.0,
                             rot3=0.0, detector=det, wavelength=lam)
    cal = fai_calibrant("CeO2")
    cal.wavelength = lam
    sg = SingleGeometry("bench", np.where(raw < 0, 0, raw).astype(np.float32), calibrant=cal, detector=det,
                        geometry=ai)
    gr = sg.geometry_refinement
    for n_rings in PYFAI_RING_SCHEDULE:  # pyFAI's recalibration loop: a few rings first, then more
        sg.extract_cp(max_rings=n_rings, pts_per_deg=1.0)
        gr = sg.geometry_refinement
        gr.refine3(fix=["wavelength", "rot3"])
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    from midas.io.poni import PoniGeometry

    g = PoniGeometry(dist_m=gr.dist, poni1_m=gr.poni1, poni2_m=gr.poni2, rot1_rad=gr.rot1, rot2_rad=gr.rot2,
                     rot3_rad=gr.rot3, pixel1_m=px, pixel2_m=px, wavelength_m=lam)
    m = poni_to_midas(g)
    from midas.geometry import FFDetector

    out = FFDetector(lsd_um=m["Lsd"], bc_px=m["BC"], pixel_size_um=(case["px"], case["px"]), ty_deg=m["ty"],
                     tz_deg=m["tz"], n_pixels=(raw.shape[1], raw.shape[0]))
    n_cp = len(sg.control_points) if sg.control_points is not None else 0
    return seconds, cpu, out, n_cp


def fmt(e: dict[str, float]) -> str:
    return (f"dLsd {e['dLsd_um']:+9.1f} µm ({e['rel']:+.1e})  dBC {e['dBC_px']:7.3f} px  "
            f"dty {e['dty_deg']:+.4f}°  dtz {e['dtz_deg']:+.4f}°")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-pyfai", action="store_true")
    ap.add_argument("--cases", nargs="+", default=["pilatus", "synthetic"])
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    logging.basicConfig(level=logging.WARNING)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = os.cpu_count() or 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores available to this process: {affinity}; threads: {args.threads}; load average {load:.1f}")
    t0 = time.perf_counter()
    import midas.calibration.autocal  # noqa: F401  (imports are not part of the timings)
    import scipy.optimize
    import scipy.signal  # noqa: F401

    print(f"imports {time.perf_counter() - t0:.2f} s")
    cases = []
    if "pilatus" in args.cases:
        c = pilatus_case()
        if c is None:
            print("pilatus: shared data absent, skipped")
        else:
            cases.append(c)
    if "synthetic" in args.cases:
        t0 = time.perf_counter()
        cases.append(synthetic_case())
        print(f"synthetic render {time.perf_counter() - t0:.1f} s")
    have_pyfai = False
    if not args.no_pyfai:
        try:
            import pyFAI  # noqa: F401

            have_pyfai = True
        except ImportError:
            print("pyFAI not installed: midas only")
    for case in cases:
        ref = case["ref"]
        print(f"\n== {case['name']} (reference Lsd {ref.lsd_um:.0f} µm, BC {ref.bc_px}, ty {ref.ty_deg}, "
              f"tz {ref.tz_deg})")
        for label, lsd_guess, bc_guess in case["starts"]:
            try:
                sec, cpu, res = run_midas(case, lsd_guess, bc_guess, args.threads)
                e = errors(res.detector, ref)
                print(f"midas  {label:17s} {sec:6.2f} s (cpu {cpu:5.2f} s)  {fmt(e)}  strain {1e6 * res.mean_strain:6.1f} µε  "
                      f"{len(res.iterations)} it  stages " + " ".join(f"{k} {v:.2f}" for k, v in res.timings.items()))
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"midas  {label:17s} FAILED: {exc}")
            if KNOWN_LAYOUTS.get((case["raw"].shape[1], case["raw"].shape[0])) is not None:
                # the same start with the per-module refinement (Pilatus module grid from the shape)
                try:
                    sec, cpu, res = run_midas(case, lsd_guess, bc_guess, args.threads, panels=True)
                    e = errors(res.detector, ref)
                    print(f"midas+panels {label:11s} {sec:6.2f} s (cpu {cpu:5.2f} s)  {fmt(e)}  strain "
                          f"{1e6 * res.mean_strain:6.1f} µε (ring-position noise {1e6 * res.noise_strain:.1f} µε, "
                          f"{res.timings.get('noise', 0.0):.2f} s)  {len(res.iterations)} it")
                except Exception as exc:  # noqa: BLE001 - report and go on
                    print(f"midas+panels {label:11s} FAILED: {exc}")
            if not have_pyfai:
                continue
            if lsd_guess is None:
                print(f"pyFAI  {label:17s} needs a starting geometry: not applicable")
                continue
            bc = bc_guess if bc_guess is not None else ((case["raw"].shape[1] - 1) / 2, (case["raw"].shape[0] - 1) / 2)
            try:
                sec, cpu, det, n_cp = run_pyfai(case, lsd_guess, bc)
                e = errors(det, ref)
                ok = abs(e["dLsd_um"]) < 0.005 * ref.lsd_um and e["dBC_px"] < 2.0
                print(f"pyFAI  {label:17s} {sec:6.2f} s (cpu {cpu:5.2f} s)  {fmt(e)}  {n_cp} control-point groups  "
                      f"{'converged' if ok else 'FAILED (wrong geometry)'}")
            except Exception as exc:  # noqa: BLE001
                print(f"pyFAI  {label:17s} FAILED: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
