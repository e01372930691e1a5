"""ω bookkeeping: frame ↔ ω labels, wrapping, rolling-readout timing and the rotation-axis wedge.

Conventions (``docs/conventions.md``, "ω labelling", "Timing correction", "Wedge"):

* Frame ``k`` (0-based, counted from the frame whose start edge is ``omega_start_deg``) covers
  ``[start + k·step, start + (k+1)·step)``. midas labels it with its CENTRE,
  ``start + (k + 0.5)·step`` (``label="centre"``, the default). Upstream MIDAS labels it with
  its START edge, ``start + k·step`` (``label="start"``), which biases every spot ω by step/2
  (+0.125° on the shared examples with step −0.25°). Upstream's SkipFrame is handled by the
  caller: use the ω of raw frame 0 as ``omega_start_deg`` and count ``k`` in raw frames.
* Angles are wrapped into (−180, 180].
* The wedge model is ``G_lab = Ry(−W)·Rz(ω)·g_sample`` (rotation axis ``(−sin W, 0, cos W)``).

Kernels: ``cpp/include/midas/geometry/omega.hpp``; NumPy twin: :mod:`midas._reference.geometry`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas._native import core
from midas.errors import GeometryError, ParamError
from midas.geometry._arrays import flat_points

__all__ = [
    "LABELS",
    "apply_wedge",
    "correct_wedge",
    "frame_to_omega",
    "omega_to_frame",
    "omega_to_frame_index",
    "timing_corrected_omega",
    "wrap_deg",
]

#: ω label offsets inside a frame: "centre" (midas default) and "start" (upstream MIDAS).
LABELS = {"centre": 0.5, "start": 0.0}


def _offset(label: str) -> float:
    try:
        return LABELS[label]
    except KeyError:
        raise ParamError(
            f"omega label {label!r}: expected one of {sorted(LABELS)}"
        ) from None


def _scan(start: float, step: float) -> tuple[float, float]:
    start_f, step_f = float(start), float(step)
    if not math.isfinite(start_f):
        raise ParamError(f"OmegaStart = {start}: expected a finite angle in degrees")
    if not (math.isfinite(step_f) and step_f != 0.0):
        raise ParamError(
            f"OmegaStep = {step}: expected a finite non-zero step in degrees"
        )
    return start_f, step_f


def frame_to_omega(
    frame: ArrayLike,
    omega_start_deg: float,
    omega_step_deg: float,
    *,
    label: str = "centre",
) -> NDArray[np.float64]:
    """ω label of frames.

    Parameters
    ----------
    frame : array_like float
        Frame coordinates (integers for whole frames; fractional values are allowed).
    omega_start_deg, omega_step_deg : float
        ω at the start edge of frame 0 and the signed step per frame, degrees.
    label : {"centre", "start"}
        ``"centre"``: ``start + (k + 0.5)·step`` (midas); ``"start"``: ``start + k·step`` (upstream).

    Returns
    -------
    float64 array of the shape of ``frame``, degrees (not wrapped).

    Raises
    ------
    ParamError
        Zero or non-finite step, unknown label.

    Examples
    --------
    >>> frame_to_omega([0, 1], 180.0, -0.25).tolist()
    [179.875, 179.625]
    >>> frame_to_omega([0, 1], 180.0, -0.25, label="start").tolist()
    [180.0, 179.75]
    """
    start, step = _scan(omega_start_deg, omega_step_deg)
    (k,), shape = flat_points(frame, names=("frame",))
    out: NDArray[np.float64] = core().frame_to_omega(k, start, step, _offset(label))
    return out.reshape(shape)


def omega_to_frame(
    omega_deg: ArrayLike,
    omega_start_deg: float,
    omega_step_deg: float,
    *,
    label: str = "centre",
) -> NDArray[np.float64]:
    """Continuous frame coordinate of ω: the inverse of :func:`frame_to_omega` (same ``label``).

    Returns
    -------
    float64 array, ``(ω − start)/step − offset`` (offset 0.5 for ``"centre"``, 0 for ``"start"``).
    ω is used as given (not wrapped): pass values on the scan's own branch.

    Raises
    ------
    ParamError
        Zero or non-finite step, unknown label.
    """
    start, step = _scan(omega_start_deg, omega_step_deg)
    (w,), shape = flat_points(omega_deg, names=("omega_deg",))
    out: NDArray[np.float64] = core().omega_to_frame_coord(
        w, start, step, _offset(label)
    )
    return out.reshape(shape)


def omega_to_frame_index(
    omega_deg: ArrayLike, omega_start_deg: float, omega_step_deg: float
) -> NDArray[np.int64]:
    """Index of the frame whose exposure contains ω: ``floor((ω − start)/step)`` (label-free).

    This is where upstream's forward simulator puts a spot of true ω.

    Raises
    ------
    ParamError
        Zero or non-finite step, or non-finite ω.

    Examples
    --------
    >>> omega_to_frame_index([180.0, 179.9, 179.75], 180.0, -0.25).tolist()
    [0, 0, 1]
    """
    start, step = _scan(omega_start_deg, omega_step_deg)
    (w,), shape = flat_points(omega_deg, names=("omega_deg",))
    out: NDArray[np.int64] = core().omega_to_frame_index(w, start, step)
    return out.reshape(shape)


def wrap_deg(angle_deg: ArrayLike) -> NDArray[np.float64]:
    """Wrap angles (degrees) into (−180, 180] exactly.

    Examples
    --------
    >>> wrap_deg([180.0, -180.0, 190.0, 540.0]).tolist()
    [180.0, 180.0, -170.0, 180.0]
    """
    (a,), shape = flat_points(angle_deg, names=("angle_deg",))
    out: NDArray[np.float64] = core().wrap_deg(a)
    return out.reshape(shape)


def timing_corrected_omega(
    omega_deg: ArrayLike,
    z_px: ArrayLike,
    *,
    n_z: int,
    omega_step_deg: float,
    t_int_s: float,
    t_gap_s: float,
) -> NDArray[np.float64]:
    """Rolling-readout timing correction of spot ω (upstream FitSetup).

    ``ω' = wrap(ω − tGap/(tGap + tInt) · step · (1 − |2·z_px − n_z| / n_z))``

    Parameters
    ----------
    omega_deg, z_px : array_like float, broadcastable
        Spot ω (degrees) and spot row coordinate (px, frame after ImTransOpt).
    n_z : int
        Detector rows (NrPixelsZ).
    omega_step_deg : float
        Signed ω step per frame (OmegaStep).
    t_int_s, t_gap_s : float
        Exposure and dead time per frame, seconds (``tInt``, ``tGap``).

    Returns
    -------
    float64 array, corrected ω in (−180, 180].

    Raises
    ------
    ParamError
        ``n_z <= 0``, negative times or ``t_int_s + t_gap_s == 0``, shapes that do not broadcast.
    """
    (w, z), shape = flat_points(omega_deg, z_px, names=("omega_deg", "z_px"))
    out: NDArray[np.float64] = core().timing_corrected_omega(
        w, z, float(n_z), float(omega_step_deg), float(t_int_s), float(t_gap_s)
    )
    return out.reshape(shape)


def _wedge(
    fn_name: str,
    eta_deg: ArrayLike,
    tth_deg: ArrayLike,
    omega_deg: ArrayLike,
    wedge_deg: float,
    strict: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    wedge = float(wedge_deg)
    if not (math.isfinite(wedge) and abs(wedge) < 90.0):
        raise GeometryError(
            f"{fn_name}: wedge_deg = {wedge_deg}, expected |wedge| < 90°"
        )
    (e, t, w), shape = flat_points(
        eta_deg, tth_deg, omega_deg, names=("eta_deg", "tth_deg", "omega_deg")
    )
    fn = getattr(core(), fn_name)
    om, et, failed = fn(
        np.deg2rad(e), np.deg2rad(t), np.deg2rad(w), math.radians(wedge)
    )
    if strict and failed:
        raise GeometryError(
            f"{fn_name}: {failed} of {e.size} diffraction events have no solution with "
            f"wedge {wedge}°"
        )
    return np.rad2deg(om).reshape(shape), np.rad2deg(et).reshape(shape)


def apply_wedge(
    eta_deg: ArrayLike,
    tth_deg: ArrayLike,
    omega_deg: ArrayLike,
    wedge_deg: float,
    *,
    strict: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move a diffraction event computed without wedge to where it happens with the wedge.

    Model: ``G_lab = Ry(−W)·Rz(ω)·g_sample``. Given ``(η0, 2θ, ω0)`` of ``g`` diffracting with
    ``W = 0``, return ``(ω1, η1)`` where the same ``g`` diffracts with wedge ``W`` (ω1 the
    solution nearest ω0); 2θ is unchanged.

    Parameters
    ----------
    eta_deg, tth_deg, omega_deg : array_like float, broadcastable, degrees
    wedge_deg : float
        ``Wedge`` parameter, degrees.
    strict : bool
        Raise instead of returning NaN where no solution exists.

    Returns
    -------
    (omega_deg, eta_deg) : float64 arrays, wrapped into (−180, 180]

    Raises
    ------
    GeometryError
        ``|wedge_deg| >= 90``, or (``strict``) events without a solution.

    Notes
    -----
    Upstream's simulators approximate this with ``ω1 = ω0 − Δω`` from their ``CorrectWedge``;
    the two agree to first order in W. See ``docs/conventions.md`` ("Wedge").
    """
    return _wedge("wedge_apply", eta_deg, tth_deg, omega_deg, wedge_deg, strict)


def correct_wedge(
    eta_deg: ArrayLike,
    tth_deg: ArrayLike,
    omega_deg: ArrayLike,
    wedge_deg: float,
    *,
    strict: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Remove the wedge from observed spots: the exact inverse of :func:`apply_wedge`.

    The observed ``(η1, 2θ, ω1)`` give ``g = Rz(−ω1)·Ry(W)·ĝ_lab``; return ``(ω0, η0)`` where
    ``g`` diffracts without wedge (ω0 nearest ω1). This is upstream FitSetup's ``CorrectWedge``,
    except that upstream keeps the observed η (a difference of order W·sin θ).

    Parameters, Returns and Raises as :func:`apply_wedge`.
    """
    return _wedge("wedge_correct", eta_deg, tth_deg, omega_deg, wedge_deg, strict)
