"""docs/conventions.md §12: every number of the worked examples is reproduced by the code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from midas._reference import geometry as ref
from midas.geometry import (
    FFDetector,
    ideal_jacobian,
    ideal_to_pixel,
    omega,
    pixel_to_ideal,
)
from midas.geometry.nf import NFDetector, nf_displace, nf_project

DOC = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"


def worked_example(name: str) -> dict[str, tuple[float, float]]:
    """{key: (value, half a unit of the last printed digit)} of one example block."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(
        rf"<!-- worked-example: {name} -->\s*```text\n(.*?)```", text, re.DOTALL
    )
    assert m, f"worked example {name!r} not found in {DOC}"
    out = {}
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        decimals = (
            len(value.split(".")[1])
            if "." in value and "e" not in value.lower()
            else None
        )
        if decimals is None:
            mant = value.lower().split("e")[0]
            digits = len(mant.split(".")[1]) if "." in mant else 0
            exp = int(value.lower().split("e")[1]) if "e" in value.lower() else 0
            tol = 0.5 * 10.0 ** (exp - digits)
        else:
            tol = 0.5 * 10.0**-decimals
        out[key] = (float(value), tol)
    return out


def check(ex: dict, key: str, got: float) -> None:
    want, tol = ex[key]
    assert abs(float(got) - want) <= tol * 1.0001 + 1e-12, (
        f"{key}: doc says {want}, code gives {float(got)!r}"
    )


def test_ff_worked_example():
    ex = worked_example("ff")
    det = FFDetector(
        lsd_um=1.2e6,
        bc_px=(498.6, 531.9),
        pixel_size_um=(400.0, 400.0),
        ty_deg=-0.42,
        tz_deg=0.31,
        distortion=(-3e-4, 1.5e-4, 2e-4) + (0.0,) * 12,
        rho_d_um=298774.29,
        n_pixels=(1024, 1024),
    )
    y_px, z_px = ex["Y_px"][0], ex["Z_px"][0]
    # intermediate steps, from the independent NumPy twin's pieces
    yc = -(y_px - 498.6) * 400.0
    zc = (z_px - 531.9) * 400.0
    check(ex, "Yc_um", yc)
    check(ex, "Zc_um", zc)
    t = ref.ff_tilt_matrix(0.0, -0.42, 0.31)
    for i in range(3):
        for j in range(3):
            check(ex, f"T_{i}{j}", t[i, j])
    xp, yp, zp = t @ np.array([0.0, yc, zc])
    check(ex, "Xp_um", xp)
    check(ex, "Yp_um", yp)
    check(ex, "Zp_um", zp)
    s = 1.2e6 / (1.2e6 + xp)
    check(ex, "u_um", s * yp)
    check(ex, "v_um", s * zp)
    r = s * np.hypot(yp, zp)
    check(ex, "R_um", r)
    eta = float(ref.calc_eta_deg(s * yp, s * zp))
    rho = r / 298774.29
    check(ex, "rho", rho)
    check(ex, "etap_deg", 90.0 - eta)
    check(ex, "term_p0", -3e-4 * rho**2 * np.cos(np.radians(2 * (90.0 - eta))))
    check(ex, "term_p1", 1.5e-4 * rho**4 * np.cos(np.radians(4 * (90.0 - eta))))
    check(ex, "term_p2", 2e-4 * rho**2)
    check(ex, "D", ref.ff_distortion(np.array(det.distortion), rho, eta))
    # the compiled model end to end
    c = pixel_to_ideal(det, y_px, z_px, wavelength_A=0.1839)
    check(ex, "R_um", c.r_um / ex["D"][0])  # R_corr / D
    check(ex, "eta_deg", c.eta_deg)
    check(ex, "Rcorr_um", c.r_um)
    check(ex, "y_um", c.y_um)
    check(ex, "z_um", c.z_um)
    check(ex, "tth_deg", c.tth_deg)
    check(ex, "q_inv_A", c.q_inv_A)
    check(ex, "flat_Y_px", 498.6 - c.y_um / 400.0)
    check(ex, "flat_Z_px", 531.9 + c.z_um / 400.0)
    jac = ideal_jacobian(det, y_px, z_px)
    check(ex, "J_yY", jac[0, 0])
    check(ex, "J_yZ", jac[0, 1])
    check(ex, "J_zY", jac[1, 0])
    check(ex, "J_zZ", jac[1, 1])
    back = ideal_to_pixel(det, ex["y_um"][0], ex["z_um"][0])
    # the printed y, z carry 5e-7 µm rounding → ~1e-9 px
    assert abs(back[0] - y_px) < 1e-6 and abs(back[1] - z_px) < 1e-6


def test_omega_worked_example():
    ex = worked_example("omega")
    k = ex["frame"][0]
    check(ex, "omega_centre_deg", omega.frame_to_omega(k, 180.0, -0.25))
    check(ex, "omega_start_deg", omega.frame_to_omega(k, 180.0, -0.25, label="start"))
    check(
        ex,
        "spot_frame",
        omega.omega_to_frame_index(ex["spot_omega_deg"][0], 180.0, -0.25),
    )
    check(
        ex,
        "timing_out_deg",
        omega.timing_corrected_omega(
            ex["timing_in_deg"][0],
            ex["timing_z_px"][0],
            n_z=2048,
            omega_step_deg=-0.25,
            t_int_s=0.3,
            t_gap_s=0.15,
        ),
    )
    w1, e1 = omega.apply_wedge(ex["wedge_eta0_deg"][0], 10.0, 0.0, 0.5)
    check(ex, "wedge_omega1_deg", w1)
    check(ex, "wedge_eta1_deg", e1)
    want = ref.wedge_apply_deg(45.0, 10.0, 0.0, 0.5)
    check(ex, "wedge_omega1_deg", want[0])
    check(ex, "wedge_eta1_deg", want[1])


def test_nf_worked_example():
    ex = worked_example("nf")
    det = NFDetector(
        lsd_um=(8289.154576,),
        bc_px=((985.415831, 17.510494),),
        tx_deg=0.536238,
        ty_deg=0.557035,
        tz_deg=0.474936,
        pixel_size_um=1.48,
    )
    y, z = nf_project(det, 0, ex["y_um"][0], ex["z_um"][0])
    check(ex, "Y_px", y)
    check(ex, "Z_px", z)
    ty, tz = ref.nf_project(
        8289.154576,
        (985.415831, 17.510494),
        1.48,
        (0.536238, 0.557035, 0.474936),
        ex["y_um"][0],
        ex["z_um"][0],
    )
    check(ex, "Y_px", ty)
    check(ex, "Z_px", tz)
    dy, dz = nf_displace(
        ex["grain_x_um"][0],
        ex["grain_y_um"][0],
        ex["omega_deg"][0],
        ex["y_um"][0],
        ex["z_um"][0],
        lsd_ref_um=8289.154576,
    )
    check(ex, "displaced_y_um", dy)
    check(ex, "displaced_z_um", dz)


def test_doc_parser_has_teeth():
    ex = worked_example("ff")
    with pytest.raises(AssertionError):
        check(ex, "R_um", ex["R_um"][0] + 2e-6)
