// Bounded Levenberg–Marquardt fit of the pseudo-Voigt sum (see midas/ff/peak_fit.hpp).
//
// Damping follows Marquardt (λ·diag(JᵀJ)) with Nielsen's gain-ratio update; bounds are handled by
// projecting every trial point into the box and freezing parameters that sit on a bound while
// the gradient pushes them outward (a projected / active-set LM).
#include <algorithm>
#include <cmath>
#include <string>

#include "midas/core/error.hpp"
#include "midas/ff/peak_fit.hpp"

namespace midas::ff {

namespace {

/// Σ(model − data)²; when `with_jacobian`, also the upper triangle of JᵀJ in a (m×m) and Jᵀr in g.
double evaluate(span<const double> r_px, span<const double> eta_deg, span<const double> value,
                const std::vector<double>& p, int n_peaks, bool with_jacobian, std::vector<double>& a,
                std::vector<double>& g, std::vector<double>& jrow) {
    const std::size_t m = p.size();
    if (with_jacobian) {
        std::fill(a.begin(), a.end(), 0.0);
        std::fill(g.begin(), g.end(), 0.0);
    }
    double cost = 0.0;
    double grad[7];
    for (std::size_t i = 0; i < r_px.size(); ++i) {
        double model = p[0];
        jrow[0] = 1.0;
        for (int j = 0; j < n_peaks; ++j) {
            const double* q = p.data() + 1 + pv_params_per_peak * j;
            const double shape = pv_shape(q, r_px[i] - q[pv_r], eta_deg[i] - q[pv_eta], with_jacobian ? grad : nullptr);
            const double imax = q[pv_imax];
            model += imax * shape;
            if (with_jacobian) {
                double* jr = jrow.data() + 1 + pv_params_per_peak * j;
                jr[pv_imax] = shape;
                jr[pv_r] = imax * grad[0];
                jr[pv_eta] = imax * grad[1];
                jr[pv_mu] = imax * grad[2];
                jr[pv_sgr] = imax * grad[3];
                jr[pv_slr] = imax * grad[4];
                jr[pv_sgeta] = imax * grad[5];
                jr[pv_sleta] = imax * grad[6];
            }
        }
        const double res = model - value[i];
        cost += res * res;
        if (with_jacobian) {
            for (std::size_t u = 0; u < m; ++u) {
                const double ju = jrow[u];
                if (ju == 0.0) continue;
                g[u] += ju * res;
                double* row = a.data() + u * m;
                for (std::size_t v = u; v < m; ++v) row[v] += ju * jrow[v];
            }
        }
    }
    return cost;
}

/// Solve (A_ff + λ·D_ff) h_f = −g_f by Cholesky on the free parameters; h is zero elsewhere.
/// Returns false when the damped matrix is not positive definite.
bool damped_step(const std::vector<double>& a, const std::vector<double>& g, const std::vector<char>& free,
                 const std::vector<double>& diag, double lambda, std::vector<double>& h,
                 std::vector<double>& work, std::vector<std::size_t>& idx) {
    const std::size_t m = g.size();
    idx.clear();
    for (std::size_t i = 0; i < m; ++i)
        if (free[i]) idx.push_back(i);
    const std::size_t f = idx.size();
    std::fill(h.begin(), h.end(), 0.0);
    if (f == 0) return true;
    work.assign(f * f + f, 0.0);
    double* l = work.data();
    double* b = work.data() + f * f;
    for (std::size_t u = 0; u < f; ++u) {
        for (std::size_t v = u; v < f; ++v) {
            const std::size_t iu = idx[u], iv = idx[v];
            l[v * f + u] = a[iu * m + iv];  // lower triangle from the stored upper triangle
        }
        l[u * f + u] += lambda * diag[idx[u]];
        b[u] = -g[idx[u]];
    }
    for (std::size_t j = 0; j < f; ++j) {  // in-place Cholesky, L in the lower triangle
        double d = l[j * f + j];
        for (std::size_t k = 0; k < j; ++k) d -= l[j * f + k] * l[j * f + k];
        if (!(d > 0.0) || !std::isfinite(d)) return false;
        d = std::sqrt(d);
        l[j * f + j] = d;
        for (std::size_t i = j + 1; i < f; ++i) {
            double s = l[i * f + j];
            for (std::size_t k = 0; k < j; ++k) s -= l[i * f + k] * l[j * f + k];
            l[i * f + j] = s / d;
        }
    }
    for (std::size_t i = 0; i < f; ++i) {  // forward: L y = b
        double s = b[i];
        for (std::size_t k = 0; k < i; ++k) s -= l[i * f + k] * b[k];
        b[i] = s / l[i * f + i];
    }
    for (std::size_t ii = f; ii-- > 0;) {  // backward: Lᵀ h = y
        double s = b[ii];
        for (std::size_t k = ii + 1; k < f; ++k) s -= l[k * f + ii] * b[k];
        b[ii] = s / l[ii * f + ii];
    }
    for (std::size_t u = 0; u < f; ++u) h[idx[u]] = b[u];
    return true;
}

}  // namespace

LmResult fit_pseudo_voigt(span<const double> r_px, span<const double> eta_deg, span<const double> value,
                          span<const double> start, span<const double> lower, span<const double> upper,
                          const LmOptions& options) {
    const std::size_t m = start.size();
    if (m < 1 + pv_params_per_peak || (m - 1) % pv_params_per_peak != 0)
        throw ParamError("fit_pseudo_voigt: start has " + std::to_string(m) +
                         " parameters, expected 1 + 8·n_peaks with n_peaks >= 1");
    if (lower.size() != m || upper.size() != m)
        throw ParamError("fit_pseudo_voigt: lower/upper must have as many entries as start");
    if (eta_deg.size() != r_px.size() || value.size() != r_px.size())
        throw ParamError("fit_pseudo_voigt: r_px, eta_deg and value must have the same length");
    const int n_peaks = static_cast<int>((m - 1) / pv_params_per_peak);
    LmResult out;
    out.params.resize(m);
    for (std::size_t i = 0; i < m; ++i) {
        if (!(lower[i] <= upper[i]))
            throw ParamError("fit_pseudo_voigt: empty bound interval for parameter " + std::to_string(i) + ": [" +
                             std::to_string(lower[i]) + ", " + std::to_string(upper[i]) + "]");
        out.params[i] = std::clamp(start[i], lower[i], upper[i]);
    }
    for (int j = 0; j < n_peaks; ++j)
        for (int s = pv_sgr; s <= pv_sleta; ++s)
            if (!(lower[1 + pv_params_per_peak * j + s] > 0.0))
                throw ParamError("fit_pseudo_voigt: width lower bounds must be > 0 (peak " + std::to_string(j) + ")");

    std::vector<double>& x = out.params;
    std::vector<double> a(m * m), g(m), a_new(m * m), g_new(m), jrow(m, 0.0), x_new(m), h(m), step(m), diag(m);
    std::vector<double> work;
    std::vector<std::size_t> idx;
    std::vector<char> free(m, 1);
    double cost = evaluate(r_px, eta_deg, value, x, n_peaks, true, a, g, jrow);
    double lambda = 1e-3, nu = 2.0;
    int centre_streak = 0;
    out.status = 5;
    int it = 0;
    for (; it < options.max_iterations; ++it) {
        double max_diag = 0.0;
        for (std::size_t i = 0; i < m; ++i) max_diag = std::max(max_diag, a[i * m + i]);
        double gnorm = 0.0;
        for (std::size_t i = 0; i < m; ++i) {
            free[i] = !((x[i] <= lower[i] && g[i] > 0.0) || (x[i] >= upper[i] && g[i] < 0.0));
            diag[i] = std::max(a[i * m + i], 1e-15 * max_diag + 1e-300);
            if (free[i]) gnorm = std::max(gnorm, std::abs(g[i]) / std::sqrt(diag[i]));
        }
        if (gnorm <= options.gtol * std::sqrt(cost + 1e-300)) {
            out.status = 1;
            break;
        }
        if (!damped_step(a, g, free, diag, lambda, h, work, idx)) {
            lambda *= nu;
            nu *= 2.0;
            if (lambda > 1e30) {
                out.status = -1;
                break;
            }
            continue;
        }
        bool small = true;
        for (std::size_t i = 0; i < m; ++i) {
            x_new[i] = std::clamp(x[i] + h[i], lower[i], upper[i]);
            step[i] = x_new[i] - x[i];
            if (std::abs(step[i]) > options.xtol_rel * (std::abs(x[i]) + options.xtol_rel)) small = false;
        }
        if (small) {
            out.status = 4;
            break;
        }
        // Predicted decrease of ½Σr² for the projected step: −(gᵀs + ½ sᵀ A s).
        double gs = 0.0, sas = 0.0;
        for (std::size_t u = 0; u < m; ++u) {
            if (step[u] == 0.0) continue;
            gs += g[u] * step[u];
            double row = a[u * m + u] * step[u];
            for (std::size_t v = u + 1; v < m; ++v) row += 2.0 * a[u * m + v] * step[v];
            sas += step[u] * row;
        }
        const double predicted = -(gs + 0.5 * sas);
        const double cost_new = evaluate(r_px, eta_deg, value, x_new, n_peaks, true, a_new, g_new, jrow);
        const double actual = 0.5 * (cost - cost_new);
        if (std::isfinite(cost_new) && actual > 0.0) {
            const double rho = predicted > 0.0 ? actual / predicted : 1.0;
            const double rel = (cost - cost_new) / (cost + 1e-300);
            if (options.centre_tol_px > 0.0) {
                double moved = 0.0;  // largest centre move of any peak, px
                for (int j = 0; j < n_peaks; ++j) {
                    const std::size_t b = 1 + static_cast<std::size_t>(pv_params_per_peak * j);
                    const double dr = x_new[b + pv_r] - x[b + pv_r];
                    const double arc = (x_new[b + pv_eta] - x[b + pv_eta]) * 0.017453292519943295 * x_new[b + pv_r];
                    moved = std::max(moved, std::hypot(dr, arc));
                }
                centre_streak = moved < options.centre_tol_px && rel < options.centre_ftol_rel ? centre_streak + 1 : 0;
            }
            x.swap(x_new);
            a.swap(a_new);
            g.swap(g_new);
            cost = cost_new;
            const double t = 2.0 * rho - 1.0;
            lambda *= std::max(1.0 / 3.0, 1.0 - t * t * t);
            nu = 2.0;
            if (rel <= options.ftol_rel) {
                out.status = 3;
                ++it;
                break;
            }
            if (options.centre_tol_px > 0.0 && centre_streak >= options.centre_patience) {
                out.status = 4;
                ++it;
                break;
            }
        } else {
            lambda *= nu;
            nu *= 2.0;
            if (lambda > 1e30) {
                out.status = 3;  // no further decrease possible along any damped step
                break;
            }
        }
    }
    out.iterations = it;
    out.cost = cost;
    return out;
}

}  // namespace midas::ff
