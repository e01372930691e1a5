"""Orientation representations and conversions (batched NumPy).

An orientation matrix ``U`` (``orient_mat``) maps crystal-frame vectors to the sample frame:
``g_sample = U @ g_crystal`` (upstream Grains.csv O11..O33, row-major). Every function here
accepts one orientation or a batch: leading axes are broadcast, the trailing axes are the
representation's own ((3, 3) matrix, (3,) Euler/Rodrigues/axis, (4,) quaternion).

Conventions (``docs/conventions.md``, "Orientations"):

* Euler angles: Bunge ZXZ in RADIANS, ``U = Rz(φ1) · Rx(Φ) · Rz(φ2)`` with active right-handed
  rotations (upstream ``Euler2OrientMat``). Returned ranges: φ1, φ2 in [0, 2π), Φ in [0, π].
  At Φ = 0 or π only φ1 ± φ2 is defined; we return φ1 = 0 (upstream's choice).
* Quaternions: ``(w, x, y, z)``, unit norm, w ≥ 0 (upstream ``OrientMat2Quat``); for w = 0
  exactly (180° rotations) the first non-zero of (x, y, z) is made positive so the form is unique.
* Axis–angle: unit axis and angle in [0, π] (radians); Rodrigues vector = tan(angle/2)·axis.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import ParamError

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quat",
    "euler_to_matrix",
    "euler_to_quat",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quat",
    "matrix_to_rodrigues",
    "quat_canonical",
    "quat_conjugate",
    "quat_multiply",
    "quat_to_axis_angle",
    "quat_to_euler",
    "quat_to_matrix",
    "quat_to_rodrigues",
    "rodrigues_to_matrix",
    "rodrigues_to_quat",
    "rotation_angle",
]

_DEGENERATE_SIN = 1e-12  # |sin Φ| below this is treated as Φ = 0 or π


def _trailing(a: ArrayLike, shape: tuple[int, ...], name: str) -> NDArray[np.float64]:
    x = np.asarray(a, dtype=np.float64)
    if x.shape[x.ndim - len(shape) :] != shape or x.ndim < len(shape):
        want = ", ".join(str(s) for s in shape)
        raise ParamError(f"{name} has shape {x.shape}, expected (..., {want})")
    return x


def euler_to_matrix(euler_rad: ArrayLike) -> NDArray[np.float64]:
    """Bunge ZXZ Euler angles → orientation matrices.

    Parameters
    ----------
    euler_rad : (..., 3) float64
        (φ1, Φ, φ2) in radians.

    Returns
    -------
    (..., 3, 3) float64
        ``U = Rz(φ1) · Rx(Φ) · Rz(φ2)``, crystal → sample.

    Raises
    ------
    ParamError
        When the last axis is not 3.

    Examples
    --------
    >>> m = euler_to_matrix([0.0, 0.0, np.pi / 2])  # 90° about z: crystal x → sample y
    >>> (m @ [1.0, 0.0, 0.0]).round(12).tolist()
    [0.0, 1.0, 0.0]
    """
    e = _trailing(euler_rad, (3,), "euler_rad")
    c1, c, c2 = np.cos(e[..., 0]), np.cos(e[..., 1]), np.cos(e[..., 2])
    s1, s, s2 = np.sin(e[..., 0]), np.sin(e[..., 1]), np.sin(e[..., 2])
    m = np.empty(e.shape[:-1] + (3, 3), dtype=np.float64)
    m[..., 0, 0] = c2 * c1 - s2 * c * s1
    m[..., 0, 1] = -c2 * c * s1 - s2 * c1
    m[..., 0, 2] = s * s1
    m[..., 1, 0] = c2 * s1 + s2 * c * c1
    m[..., 1, 1] = c2 * c * c1 - s2 * s1
    m[..., 1, 2] = -s * c1
    m[..., 2, 0] = s2 * s
    m[..., 2, 1] = c2 * s
    m[..., 2, 2] = c
    return m


def matrix_to_euler(orient_mat: ArrayLike) -> NDArray[np.float64]:
    """Orientation matrices → Bunge ZXZ Euler angles (radians).

    Parameters
    ----------
    orient_mat : (..., 3, 3) float64
        Rotation matrices, crystal → sample.

    Returns
    -------
    (..., 3) float64
        (φ1, Φ, φ2): φ1, φ2 in [0, 2π), Φ in [0, π]. When |sin Φ| < 1e-12, φ1 = 0 and φ2 carries
        the whole rotation about z (φ1 + φ2 for Φ = 0, φ1 − φ2 = −φ2 for Φ = π).

    Raises
    ------
    ParamError
        When the trailing axes are not (3, 3).
    """
    m = _trailing(orient_mat, (3, 3), "orient_mat")
    s_big = np.hypot(m[..., 2, 0], m[..., 2, 1])
    big_phi = np.arctan2(s_big, m[..., 2, 2])
    phi1 = np.arctan2(m[..., 0, 2], -m[..., 1, 2])
    phi2 = np.arctan2(m[..., 2, 0], m[..., 2, 1])
    degenerate = s_big < _DEGENERATE_SIN
    if np.any(degenerate):
        top = m[..., 2, 2] > 0
        alt = np.where(top, np.arctan2(m[..., 1, 0], m[..., 0, 0]), np.arctan2(-m[..., 1, 0], m[..., 0, 0]))
        phi1 = np.where(degenerate, 0.0, phi1)
        phi2 = np.where(degenerate, alt, phi2)
        big_phi = np.where(degenerate, np.where(top, 0.0, np.pi), big_phi)
    two_pi = 2.0 * np.pi
    phi1 = np.mod(phi1, two_pi)
    phi2 = np.mod(phi2, two_pi)
    # np.mod can return 2π for tiny negative inputs; fold it back.
    phi1 = np.where(phi1 >= two_pi, 0.0, phi1)
    phi2 = np.where(phi2 >= two_pi, 0.0, phi2)
    return np.stack([phi1, big_phi, phi2], axis=-1)


def quat_canonical(quat: ArrayLike) -> NDArray[np.float64]:
    """Normalise quaternions and fix their sign: the first non-zero of (w, x, y, z) is positive.

    So w ≥ 0 always, and for w = 0 exactly (half turns) the first non-zero of x, y, z is > 0.

    Parameters
    ----------
    quat : (..., 4) float64
        (w, x, y, z), any non-zero norm.

    Returns
    -------
    (..., 4) float64
        Unit quaternions in canonical sign.

    Raises
    ------
    ParamError
        When the last axis is not 4 or a quaternion has zero norm.
    """
    q = _trailing(quat, (4,), "quat")
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n == 0.0) or not np.all(np.isfinite(n)):
        raise ParamError("quat: zero or non-finite norm")
    q = q / n
    first = np.argmax(q != 0.0, axis=-1)  # the first non-zero component decides the sign
    lead = np.take_along_axis(q, first[..., None], axis=-1)
    out = q * np.where(lead < 0, -1.0, 1.0)
    out[..., 0] = np.abs(out[..., 0])  # w >= 0 already; this only turns -0.0 into +0.0
    return np.asarray(out, dtype=np.float64)


def matrix_to_quat(orient_mat: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrices → unit quaternions (w, x, y, z), canonical sign (w ≥ 0).

    Parameters
    ----------
    orient_mat : (..., 3, 3) float64
        Proper rotation matrices.

    Returns
    -------
    (..., 4) float64

    Raises
    ------
    ParamError
        When the trailing axes are not (3, 3).

    Notes
    -----
    Shepperd's method: the largest of (w², x², y², z²) is taken from the diagonal, the other
    components from off-diagonal sums, which keeps full precision for every rotation angle.
    """
    m = _trailing(orient_mat, (3, 3), "orient_mat")
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    cand = np.stack([1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22], -1)
    pick = np.argmax(cand, axis=-1)
    big = np.sqrt(np.maximum(np.take_along_axis(cand, pick[..., None], -1)[..., 0], 0.0)) * 0.5  # = |component|
    inv4 = 0.25 / big
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    q = np.empty(m.shape[:-2] + (4,), dtype=np.float64)
    w = np.stack([big, d21 * inv4, d02 * inv4, d10 * inv4], -1)
    x = np.stack([d21 * inv4, big, s01 * inv4, s02 * inv4], -1)
    y = np.stack([d02 * inv4, s01 * inv4, big, s12 * inv4], -1)
    z = np.stack([d10 * inv4, s02 * inv4, s12 * inv4, big], -1)
    for k, arr in enumerate((w, x, y, z)):
        sel = pick == k
        q[sel] = arr[sel]
    return quat_canonical(q)


def quat_to_matrix(quat: ArrayLike) -> NDArray[np.float64]:
    """Quaternions (w, x, y, z) → rotation matrices (normalised first).

    Parameters
    ----------
    quat : (..., 4) float64

    Returns
    -------
    (..., 3, 3) float64

    Raises
    ------
    ParamError
        When the last axis is not 4 or a quaternion has zero norm.
    """
    q = quat_canonical(quat)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3), dtype=np.float64)
    m[..., 0, 0] = 1.0 - 2.0 * (y * y + z * z)
    m[..., 0, 1] = 2.0 * (x * y - w * z)
    m[..., 0, 2] = 2.0 * (x * z + w * y)
    m[..., 1, 0] = 2.0 * (x * y + w * z)
    m[..., 1, 1] = 1.0 - 2.0 * (x * x + z * z)
    m[..., 1, 2] = 2.0 * (y * z - w * x)
    m[..., 2, 0] = 2.0 * (x * z - w * y)
    m[..., 2, 1] = 2.0 * (y * z + w * x)
    m[..., 2, 2] = 1.0 - 2.0 * (x * x + y * y)
    return m


def quat_multiply(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Hamilton product ``a ⊗ b`` (the rotation b, then a), broadcast over leading axes.

    Matches matrix products: ``quat_to_matrix(a ⊗ b) == quat_to_matrix(a) @ quat_to_matrix(b)``.
    The result is not sign-canonicalised.
    """
    p = _trailing(a, (4,), "a")
    q = _trailing(b, (4,), "b")
    w1, x1, y1, z1 = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    w2, x2, y2, z2 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def quat_conjugate(quat: ArrayLike) -> NDArray[np.float64]:
    """Conjugate (w, −x, −y, −z): the inverse rotation of a unit quaternion."""
    q = _trailing(quat, (4,), "quat")
    return np.asarray(q * np.array([1.0, -1.0, -1.0, -1.0]), dtype=np.float64)


def rotation_angle(orient_mat: ArrayLike) -> NDArray[np.float64]:
    """Rotation angle in [0, π] (radians) of rotation matrices (..., 3, 3) → (...)."""
    q = matrix_to_quat(orient_mat)
    return np.asarray(2.0 * np.arctan2(np.linalg.norm(q[..., 1:], axis=-1), np.abs(q[..., 0])), dtype=np.float64)


def quat_to_axis_angle(quat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Quaternions → (unit axis (..., 3), angle (...) in [0, π] rad).

    For the identity (angle 0) the axis is (0, 0, 1) by convention.
    """
    q = quat_canonical(quat)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1)
    angle = 2.0 * np.arctan2(s, q[..., 0])
    safe = s > 0
    axis = np.where(safe[..., None], v / np.where(safe, s, 1.0)[..., None], np.array([0.0, 0.0, 1.0]))
    return axis, angle


def axis_angle_to_quat(axis: ArrayLike, angle_rad: ArrayLike) -> NDArray[np.float64]:
    """(axis (..., 3), angle (...) rad) → canonical quaternions (..., 4).

    Raises
    ------
    ParamError
        When an axis has zero length or the shapes do not broadcast.
    """
    ax = _trailing(axis, (3,), "axis")
    n = np.linalg.norm(ax, axis=-1, keepdims=True)
    if np.any(n == 0.0):
        raise ParamError("axis: zero-length rotation axis")
    ang = np.asarray(angle_rad, dtype=np.float64)
    half = 0.5 * ang
    try:
        q = np.concatenate([np.cos(half)[..., None], np.sin(half)[..., None] * (ax / n)], axis=-1)
    except ValueError as exc:
        raise ParamError(f"axis {ax.shape} and angle_rad {ang.shape} do not broadcast") from exc
    return quat_canonical(q)


def axis_angle_to_matrix(axis: ArrayLike, angle_rad: ArrayLike) -> NDArray[np.float64]:
    """(axis (..., 3), angle (...) rad) → rotation matrices (..., 3, 3), right-handed."""
    return quat_to_matrix(axis_angle_to_quat(axis, angle_rad))


def matrix_to_axis_angle(orient_mat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rotation matrices (..., 3, 3) → (unit axis (..., 3), angle (...) in [0, π] rad)."""
    return quat_to_axis_angle(matrix_to_quat(orient_mat))


def quat_to_rodrigues(quat: ArrayLike) -> NDArray[np.float64]:
    """Quaternions → Rodrigues vectors tan(angle/2)·axis (..., 3); ±inf-sized for 180° rotations."""
    q = quat_canonical(quat)
    with np.errstate(divide="ignore", invalid="ignore"):
        return q[..., 1:] / q[..., :1]


def rodrigues_to_quat(rodrigues: ArrayLike) -> NDArray[np.float64]:
    """Rodrigues vectors (..., 3) → canonical quaternions (..., 4)."""
    r = _trailing(rodrigues, (3,), "rodrigues")
    q = np.concatenate([np.ones(r.shape[:-1] + (1,)), r], axis=-1)
    return quat_canonical(q)


def rodrigues_to_matrix(rodrigues: ArrayLike) -> NDArray[np.float64]:
    """Rodrigues vectors (..., 3) → rotation matrices (..., 3, 3)."""
    return quat_to_matrix(rodrigues_to_quat(rodrigues))


def matrix_to_rodrigues(orient_mat: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrices (..., 3, 3) → Rodrigues vectors (..., 3)."""
    return quat_to_rodrigues(matrix_to_quat(orient_mat))


def euler_to_quat(euler_rad: ArrayLike) -> NDArray[np.float64]:
    """Bunge Euler angles (..., 3) rad → canonical quaternions (..., 4)."""
    return matrix_to_quat(euler_to_matrix(euler_rad))


def quat_to_euler(quat: ArrayLike) -> NDArray[np.float64]:
    """Quaternions (..., 4) → Bunge Euler angles (..., 3) rad (ranges as :func:`matrix_to_euler`)."""
    return matrix_to_euler(quat_to_matrix(quat))
