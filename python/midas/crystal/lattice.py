"""Unit cells: the reciprocal-basis matrix B, the direct basis, d-spacings.

The Cartesian crystal frame is the frame of B (upstream ``CorrectHKLsLatC``): a* along +x, b* in
the x–y plane, and ``g_crystal = B · (h, k, l)`` in 1/Å without a 2π factor. See
``docs/conventions.md`` ("Crystal frame and B matrix").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from midas.errors import GeometryError, ParamError

__all__ = ["Lattice"]


def _sind(x: float) -> float:
    return math.sin(math.radians(x))


def _cosd(x: float) -> float:
    return math.cos(math.radians(x))


def _acosd(x: float) -> float:
    return math.degrees(math.acos(x))


@dataclass(frozen=True, slots=True)
class Lattice:
    """A unit cell: lengths in Å, angles in degrees.

    Attributes
    ----------
    a_A, b_A, c_A : float
        Cell edge lengths (Å), all > 0.
    alpha_deg, beta_deg, gamma_deg : float
        Cell angles (degrees): α between b and c, β between c and a, γ between a and b.

    Raises
    ------
    GeometryError
        When a length is not positive and finite, an angle is outside (0, 180), or the three
        angles do not form a cell (non-positive volume).

    Examples
    --------
    >>> lat = Lattice(4.08, 4.08, 4.08, 90, 90, 90)
    >>> round(lat.d_spacing([1, 1, 1]), 6)
    2.355589
    """

    a_A: float
    b_A: float
    c_A: float
    alpha_deg: float
    beta_deg: float
    gamma_deg: float

    def __post_init__(self) -> None:
        for name in ("a_A", "b_A", "c_A"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0.0):
                raise GeometryError(f"Lattice {name} = {getattr(self, name)!r}: expected a finite length > 0 Å")
            object.__setattr__(self, name, v)
        for name in ("alpha_deg", "beta_deg", "gamma_deg"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and 0.0 < v < 180.0):
                raise GeometryError(f"Lattice {name} = {getattr(self, name)!r}: expected an angle in (0, 180) degrees")
            object.__setattr__(self, name, v)
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha_deg, self.beta_deg, self.gamma_deg))
        if 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg <= 1e-12:
            raise GeometryError(
                f"Lattice angles ({self.alpha_deg}, {self.beta_deg}, {self.gamma_deg}) deg do not form a "
                "cell: the volume is zero or imaginary"
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_tuple(cls, values: ArrayLike) -> Lattice:
        """Build from ``(a, b, c, alpha, beta, gamma)`` (Å, degrees).

        Raises
        ------
        ParamError
            When ``values`` does not hold exactly six numbers.
        GeometryError
            When the numbers do not form a cell.
        """
        try:
            v = [float(x) for x in np.asarray(values, dtype=np.float64).reshape(-1)]
        except (TypeError, ValueError) as exc:
            raise ParamError(f"lattice {values!r}: expected six numbers a b c alpha beta gamma") from exc
        if len(v) != 6:
            raise ParamError(f"lattice {values!r}: expected six numbers a b c alpha beta gamma, got {len(v)}")
        return cls(*v)

    @classmethod
    def from_params(cls, p: Any) -> Lattice:
        """Build from a parameter set (``midas.params.MidasParams`` or a plain mapping).

        Reads ``LatticeConstant`` (upstream alias ``LatticeParameter``): six numbers
        ``a b c alpha beta gamma`` in Å and degrees.

        Raises
        ------
        ParamError
            When the key is missing or does not hold six numbers (the message names the source
            file when ``p`` has one).
        """
        value = None
        for key in ("LatticeConstant", "LatticeParameter"):
            if isinstance(p, Mapping):
                value = p.get(key)
            else:
                try:
                    value = p.get(key, None)
                except TypeError:
                    value = p.get(key)
            if value is not None:
                break
        source = getattr(p, "source", None)
        where = f" in {source}" if source else ""
        if value is None:
            raise ParamError(f"LatticeConstant is missing{where}: expected 'LatticeConstant a b c alpha beta gamma'")
        if isinstance(value, list) and value and isinstance(value[-1], (tuple, list)):
            value = value[-1]  # repeated key: last occurrence wins, as in upstream
        try:
            return cls.from_tuple(value)
        except ParamError as exc:
            raise ParamError(f"LatticeConstant{where}: {exc}") from exc

    def to_tuple(self) -> tuple[float, float, float, float, float, float]:
        """``(a_A, b_A, c_A, alpha_deg, beta_deg, gamma_deg)``."""
        return (self.a_A, self.b_A, self.c_A, self.alpha_deg, self.beta_deg, self.gamma_deg)

    def to_dict(self) -> dict[str, float]:
        """Field name → value."""
        return {
            "a_A": self.a_A,
            "b_A": self.b_A,
            "c_A": self.c_A,
            "alpha_deg": self.alpha_deg,
            "beta_deg": self.beta_deg,
            "gamma_deg": self.gamma_deg,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> Lattice:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: float(d[k]) for k in ("a_A", "b_A", "c_A", "alpha_deg", "beta_deg", "gamma_deg")})

    # ------------------------------------------------------------------ matrices
    def b_matrix(self) -> NDArray[np.float64]:
        """Reciprocal-basis matrix B, (3, 3) float64, 1/Å, no 2π.

        Columns are a*, b*, c* in the Cartesian crystal frame, so ``g_crystal = B @ hkl``.

        Notes
        -----
        Upstream ``CorrectHKLsLatC`` (docs/upstream_facts.md §2.6)::

            γ* = acos((cosα cosβ − cosγ)/(sinα sinβ)),  β* = acos((cosγ cosα − cosβ)/(sinγ sinα))
            V  = a b c sinα sinβ* sinγ,  a* = b c sinα/V,  b* = c a sinβ/V,  c* = a b sinγ/V
            B  = [[a*, b* cosγ*, c* cosβ*], [0, b* sinγ*, −c* sinβ* cosα], [0, 0, c* sinβ* sinα]]

        evaluated in upstream's operation order (scalar libm calls, no FMA), so hkls.csv values
        agree with upstream (MIDAS v11) to the last bit. For a right angle the off-diagonal
        terms are ~1e-17 1/Å (cos of the double nearest π/2), exactly as upstream writes them.
        """
        a, b, c = self.a_A, self.b_A, self.c_A
        sin_a, sin_b, sin_g = _sind(self.alpha_deg), _sind(self.beta_deg), _sind(self.gamma_deg)
        cos_a, cos_b, cos_g = _cosd(self.alpha_deg), _cosd(self.beta_deg), _cosd(self.gamma_deg)
        gamma_pr = _acosd((cos_a * cos_b - cos_g) / (sin_a * sin_b))
        beta_pr = _acosd((cos_g * cos_a - cos_b) / (sin_g * sin_a))
        sin_beta_pr = _sind(beta_pr)
        vol = a * (b * (c * (sin_a * (sin_beta_pr * sin_g))))
        a_pr = b * c * sin_a / vol
        b_pr = c * a * sin_b / vol
        c_pr = a * b * sin_g / vol
        return np.array(
            [
                [a_pr, b_pr * _cosd(gamma_pr), c_pr * _cosd(beta_pr)],
                [0.0, b_pr * _sind(gamma_pr), -c_pr * sin_beta_pr * cos_a],
                [0.0, 0.0, c_pr * sin_beta_pr * sin_a],
            ],
            dtype=np.float64,
        )

    def direct_matrix(self) -> NDArray[np.float64]:
        """Direct-basis matrix A, (3, 3) float64, Å: columns a, b, c in the crystal frame of B.

        ``A = (B⁻¹)ᵀ``, so ``Aᵀ B = I`` and a fractional position x maps to ``A @ x`` (Å).
        """
        return np.ascontiguousarray(np.linalg.inv(self.b_matrix()).T)

    def metric_tensor(self) -> NDArray[np.float64]:
        """Direct metric tensor G = Aᵀ A, (3, 3) float64, Å² (computed from a, b, c, α, β, γ)."""
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha_deg, self.beta_deg, self.gamma_deg))
        a, b, c = self.a_A, self.b_A, self.c_A
        return np.array(
            [[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]],
            dtype=np.float64,
        )

    @property
    def volume_A3(self) -> float:
        """Cell volume (Å³)."""
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha_deg, self.beta_deg, self.gamma_deg))
        return self.a_A * self.b_A * self.c_A * math.sqrt(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg)

    def g_crystal(self, hkl: ArrayLike) -> NDArray[np.float64]:
        """Scattering vectors ``B @ hkl``: (..., 3) float64 in 1/Å, crystal frame.

        Parameters
        ----------
        hkl : (..., 3) array_like of numbers
            Miller indices.

        Raises
        ------
        ParamError
            When the last axis of ``hkl`` is not 3.
        """
        h = np.asarray(hkl, dtype=np.float64)
        if h.shape[-1:] != (3,):
            raise ParamError(f"hkl has shape {h.shape}, expected (..., 3)")
        bm = self.b_matrix()
        # Same summation order as upstream MatrixMult: ((B0 h + B1 k) + B2 l).
        return np.stack(
            [(bm[i, 0] * h[..., 0] + bm[i, 1] * h[..., 1]) + bm[i, 2] * h[..., 2] for i in range(3)], axis=-1
        )

    def d_spacing(self, hkl: ArrayLike) -> Any:
        """Interplanar spacing ``1/|B hkl|`` (Å): float for one hkl, (...) array for (..., 3).

        Raises
        ------
        ParamError
            When the last axis is not 3.
        GeometryError
            For hkl = (0, 0, 0).
        """
        g = self.g_crystal(hkl)
        n = np.sqrt((g[..., 0] * g[..., 0] + g[..., 1] * g[..., 1]) + g[..., 2] * g[..., 2])
        if np.any(n == 0.0):
            raise GeometryError("d-spacing of hkl = (0, 0, 0) is undefined")
        d = 1.0 / n
        return float(d) if np.ndim(d) == 0 else d
