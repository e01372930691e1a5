// ff_refine_fit.cpp — per-grain Levenberg–Marquardt refinement (see midas/ff/refine_fit.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/ff/refine_fit.hpp"
#include "midas/ff/index_windows.hpp"
#include "midas/ff/refine_model.hpp"

namespace midas::ff {

namespace {

constexpr double kDeg = M_PI / 180.0;
constexpr int kNP = 12;  // pos 3, rotation 3, B entries 6
// upper-triangular entries of B (row-major indices) and their (row, column)
constexpr int kBIdx[6] = {0, 1, 2, 4, 5, 8};
constexpr int kBRow[6] = {0, 0, 0, 1, 1, 2};
constexpr int kBCol[6] = {0, 1, 2, 1, 2, 2};

struct State {
    double u[9];
    double pos[3];
    double b[9];
};

struct Pair {
    std::int32_t obs;
    std::int32_t row;
    double c_obs, s_obs;  // cos, sin of the observed ω
};

struct PredSpot {
    double y, z, omega_deg, eta_deg, eta_ideal_deg, g[3];
    std::int32_t row;
    int ring;
    bool counts;
};

struct Tolerance {
    bool first_pass;
    double yz_um;
    double ome_deg;
};

class Refiner {
   public:
    Refiner(const ObsSpotsView& obs, const SpotGrid& grid, const RefineHkls& hkls, const RefineConfig& cfg)
        : obs_(obs), grid_(grid), hkls_(hkls), cfg_(cfg) {
        windows_ = SpotWindows{cfg.omega_windows_deg, cfg.boxes_um};
        ring_table_ = RingTable{hkls.ring_radius_um, hkls.ring_counts};
        sin_min_eta_ = std::sin(cfg.min_eta_deg * kDeg);
        first_ome_cap_ = cfg.margin_ome_deg + 0.5 * cfg.step_orient_deg;
    }

    RefinedGrain run(const double* u0, const double* p0, const double* b0, int min_spots) const;

   private:
    [[nodiscard]] bool in_windows(double omega_deg, double y0, double z0) const {
        return windows_.contains(omega_deg, y0, z0);
    }
    [[nodiscard]] double ring_radius(int ring) const { return ring_table_.radius(ring); }
    [[nodiscard]] bool ring_counts(int ring) const { return ring_table_.counted(ring); }
    void g_of_row(const State& st, std::size_t row, double g[3]) const {
        const double* h = hkls_.hkl.data() + 3 * row;
        double gc[3];
        mat3_vec(st.b, h, gc);
        mat3_vec(st.u, gc, g);
    }
    void predict(const State& st, std::vector<PredSpot>* out) const;
    void assign(const State& st, const Tolerance& tol, std::vector<PredSpot>& pred, std::vector<Pair>* pairs) const;
    bool residuals(const State& st, const std::vector<Pair>& pairs, double s_yz, double s_ome, bool want_jac,
                   std::vector<double>* r, std::vector<double>* jac, bool robust = true) const;
    [[nodiscard]] bool feasible(const State& st) const;
    void project_position(State* st) const;
    int fit(State* st, const std::vector<Pair>& pairs, double s_yz, double s_ome) const;
    void scales(const State& st, const std::vector<Pair>& pairs, double* s_yz, double* s_ome) const;
    [[nodiscard]] bool pair_models(const State& st, const Pair& p) const {
        double g[3], c, sn;
        g_of_row(st, static_cast<std::size_t>(p.row), g);
        SpotModel m;
        return closest_bragg_cs(g, cfg_.wavelength_A, p.c_obs, p.s_obs, &c, &sn) &&
               spot_model_cs(g, st.pos, c, sn, cfg_.wavelength_A, cfg_.lsd_um, cfg_.displacement, false, false, &m);
    }

    const ObsSpotsView& obs_;
    const SpotGrid& grid_;
    const RefineHkls& hkls_;
    const RefineConfig& cfg_;
    SpotWindows windows_;
    RingTable ring_table_;
    double sin_min_eta_ = 0.0;
    double first_ome_cap_ = 0.0;
};

void Refiner::predict(const State& st, std::vector<PredSpot>* out) const {
    out->clear();
    const std::size_t n_rows = hkls_.ring_nr.size();
    for (std::size_t h = 0; h < n_rows; ++h) {
        const int ring = hkls_.ring_nr[h];
        if (ring_radius(ring) <= 0.0) continue;
        double g[3];
        g_of_row(st, h, g);
        const double v = 0.5 * cfg_.wavelength_A * (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        double cs[2][2];
        const int n_sol = bragg_cos_sin(g[0], g[1], v, cs);
        for (int k = 0; k < n_sol; ++k) {
            const double c = cs[k][0], sn = cs[k][1];
            const double gly = g[0] * sn + g[1] * c, glz = g[2];
            const double rho = std::sqrt(gly * gly + glz * glz);
            if (!(rho > 0.0) || std::fabs(gly) / rho < sin_min_eta_) continue;  // |sin η| of the ideal spot
            SpotModel d;
            if (!spot_model_cs(g, st.pos, c, sn, cfg_.wavelength_A, cfg_.lsd_um, cfg_.displacement, false, true, &d))
                continue;
            if (!in_windows(d.omega_deg, d.y0_um, d.z0_um)) continue;
            const SpotModel& m = d;
            PredSpot p;
            p.y = d.y_um;
            p.z = d.z_um;
            p.omega_deg = d.omega_deg;
            p.eta_ideal_deg = m.eta_deg;
            p.eta_deg = geometry::eta_from_yz(d.y_um, d.z_um) / kDeg;  // η of the displaced spot (the grid's key)
            p.g[0] = g[0];
            p.g[1] = g[1];
            p.g[2] = g[2];
            p.row = static_cast<std::int32_t>(h);
            p.ring = ring;
            p.counts = ring_counts(ring);
            out->push_back(p);
        }
    }
}

void Refiner::assign(const State& st, const Tolerance& tol, std::vector<PredSpot>& pred,
                     std::vector<Pair>* pairs) const {
    predict(st, &pred);
    // (obs, distance, predicted index)
    std::vector<std::tuple<std::int32_t, double, std::int32_t>> cands;
    for (std::size_t i = 0; i < pred.size(); ++i) {
        const PredSpot& p = pred[i];
        const double radius = ring_radius(p.ring);
        const double sin_eta = std::max(std::fabs(std::sin(p.eta_ideal_deg * kDeg)), 1e-6);
        double ome_tol, eta_half_deg, arc_tan = 0.0, yz_norm;
        if (tol.first_pass) {
            const double etol = std::atan(cfg_.margin_eta_um / radius) / kDeg + 0.5 * cfg_.step_orient_deg;
            arc_tan = std::tan(etol * kDeg);
            ome_tol = cfg_.margin_ome_deg + 0.5 * cfg_.step_orient_deg / sin_eta;
            eta_half_deg = etol + std::atan(cfg_.margin_radial_um / radius) / kDeg;
            yz_norm = cfg_.margin_radial_um;
        } else {
            ome_tol = tol.ome_deg;
            eta_half_deg = std::atan(tol.yz_um / std::max(radius * 0.5, 1.0)) / kDeg;
            yz_norm = tol.yz_um;
        }
        double best_d = 1e300;
        std::int32_t best_j = -1;
        grid_.query(p.ring, p.eta_deg - eta_half_deg, p.eta_deg + eta_half_deg, p.omega_deg - ome_tol,
                    p.omega_deg + ome_tol, [&](std::int32_t j) {
                        const auto u = static_cast<std::size_t>(j);
                        const double dw = geometry::wrap_deg(obs_.omega_deg[u] - p.omega_deg);
                        if (std::fabs(dw) >= ome_tol) return;
                        const double dy = p.y - obs_.y_um[u], dz = p.z - obs_.z_um[u];
                        if (tol.first_pass) {
                            const double qy = obs_.y_um[u], qz = obs_.z_um[u];
                            const double qr = std::sqrt(qy * qy + qz * qz);
                            if (!(qr > 0.0)) return;
                            const double ny = qy / qr, nz = qz / qr;
                            if (std::fabs(ny * dy + nz * dz) >= cfg_.margin_radial_um) return;
                            if (std::fabs(-nz * dy + ny * dz) >= qr * arc_tan) return;
                        } else if (dy * dy + dz * dz >= tol.yz_um * tol.yz_um) {
                            return;
                        }
                        const double d = (dy * dy + dz * dz) / (yz_norm * yz_norm) + (dw * dw) / (ome_tol * ome_tol);
                        if (d < best_d || (d == best_d && j < best_j)) {
                            best_d = d;
                            best_j = j;
                        }
                    });
        if (best_j >= 0) cands.emplace_back(best_j, best_d, static_cast<std::int32_t>(i));
    }
    std::sort(cands.begin(), cands.end());
    pairs->clear();
    for (std::size_t k = 0; k < cands.size(); ++k) {
        if (k > 0 && std::get<0>(cands[k]) == std::get<0>(cands[k - 1])) continue;
        const std::int32_t j = std::get<0>(cands[k]);
        const double w = obs_.omega_deg[static_cast<std::size_t>(j)] * kDeg;
        pairs->push_back(Pair{j, pred[static_cast<std::size_t>(std::get<2>(cands[k]))].row, std::cos(w), std::sin(w)});
    }
}

bool Refiner::residuals(const State& st, const std::vector<Pair>& pairs, double s_yz, double s_ome, bool want_jac,
                        std::vector<double>* r, std::vector<double>* jac, bool robust) const {
    const std::size_t n = pairs.size();
    r->assign(3 * n, 0.0);
    if (want_jac) jac->assign(3 * n * kNP, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const auto j = static_cast<std::size_t>(pairs[i].obs);
        const auto h = static_cast<std::size_t>(pairs[i].row);
        double g[3];
        g_of_row(st, h, g);
        double c, sn;
        const double co = pairs[i].c_obs, so = pairs[i].s_obs;
        if (!closest_bragg_cs(g, cfg_.wavelength_A, co, so, &c, &sn)) return false;
        SpotModel m;
        if (!spot_model_cs(g, st.pos, c, sn, cfg_.wavelength_A, cfg_.lsd_um, cfg_.displacement, want_jac, false, &m))
            return false;
        double* ri = r->data() + 3 * i;
        ri[0] = (m.y_um - obs_.y_um[j]) / s_yz;
        ri[1] = (m.z_um - obs_.z_um[j]) / s_yz;
        ri[2] = std::atan2(sn * co - c * so, c * co + sn * so) / kDeg / s_ome;  // ω − ω_obs in (−180, 180]
        // Huber weight on the spot's normalised residual: spots beyond huber_k σ count linearly,
        // so a few wrong spots (overlaps) cannot pull the grain (IRLS: weight frozen in the Jacobian)
        const double norm = std::sqrt(ri[0] * ri[0] + ri[1] * ri[1] + ri[2] * ri[2]);
        const double k_h = cfg_.huber_k;
        const double sw = robust && k_h > 0.0 && norm > k_h ? std::sqrt(k_h / norm) : 1.0;
        for (int c = 0; c < 3; ++c) ri[c] *= sw;
        if (!want_jac) continue;
        const double inv[3] = {sw / s_yz, sw / s_yz, sw / s_ome};
        // dG/dw_k = e_k × G
        const double dg_dw[3][3] = {{0.0, -g[2], g[1]}, {g[2], 0.0, -g[0]}, {-g[1], g[0], 0.0}};  // [k][component]
        const double* hk = hkls_.hkl.data() + 3 * h;
        for (int c = 0; c < 3; ++c) {
            double* row = jac->data() + (3 * i + static_cast<std::size_t>(c)) * kNP;
            for (int k = 0; k < 3; ++k) row[k] = m.d_dpos[c][k] * inv[c];
            for (int k = 0; k < 3; ++k)
                row[3 + k] = (m.d_dg[c][0] * dg_dw[k][0] + m.d_dg[c][1] * dg_dw[k][1] + m.d_dg[c][2] * dg_dw[k][2]) *
                             inv[c];
            for (int e = 0; e < 6; ++e) {
                // dG/dB_ab = U[:, a]·h_b
                const int a = kBRow[e], b = kBCol[e];
                const double dgd[3] = {st.u[a] * hk[b], st.u[3 + a] * hk[b], st.u[6 + a] * hk[b]};
                row[6 + e] = (m.d_dg[c][0] * dgd[0] + m.d_dg[c][1] * dgd[1] + m.d_dg[c][2] * dgd[2]) * inv[c];
            }
        }
    }
    return true;
}

// Projection of the position onto its bounds (in-plane radius ≤ Rsample + 20 µm, |z| ≤ Hbeam/2):
// a step that would leave them is cut back onto them instead of refused, so a grain whose best
// position lies at a bound still converges in the other parameters.
void Refiner::project_position(State* st) const {
    const double rs = cfg_.rsample_um + 20.0;
    const double rxy = std::sqrt(st->pos[0] * st->pos[0] + st->pos[1] * st->pos[1]);
    if (rxy > rs) {
        st->pos[0] *= rs / rxy;
        st->pos[1] *= rs / rxy;
    }
    const double hz = 0.5 * cfg_.hbeam_um;
    st->pos[2] = std::max(-hz, std::min(hz, st->pos[2]));
}

bool Refiner::feasible(const State& st) const {
    const double rs = cfg_.rsample_um + 20.0;
    if (st.pos[0] * st.pos[0] + st.pos[1] * st.pos[1] > rs * rs) return false;
    if (std::fabs(st.pos[2]) > 0.5 * cfg_.hbeam_um + 1e-9) return false;
    if (cfg_.fit_strain) {
        double lat[6];
        if (!lattice_from_b(st.b, lat)) return false;
        for (int k = 0; k < 6; ++k) {
            const double pct = k < 3 ? cfg_.marg_abc_pct : cfg_.marg_abg_pct;
            if (std::fabs(lat[k] - cfg_.lattice_ref[k]) > 0.01 * pct * std::fabs(cfg_.lattice_ref[k]) + 1e-12)
                return false;
        }
    }
    return true;
}

// Cholesky solve of the symmetric positive-definite n×n system a·x = b (a overwritten).
bool cholesky_solve(double* a, double* b, int n) {
    for (int j = 0; j < n; ++j) {
        double d = a[j * n + j];
        for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0.0)) return false;
        d = std::sqrt(d);
        a[j * n + j] = d;
        for (int i = j + 1; i < n; ++i) {
            double s = a[i * n + j];
            for (int k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = s / d;
        }
    }
    for (int i = 0; i < n; ++i) {
        double s = b[i];
        for (int k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
        b[i] = s / a[i * n + i];
    }
    for (int i = n - 1; i >= 0; --i) {
        double s = b[i];
        for (int k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
        b[i] = s / a[i * n + i];
    }
    return true;
}

State apply_step(const State& st, const double* dx) {
    State out = st;
    for (int k = 0; k < 3; ++k) out.pos[k] += dx[k];
    double rot[9];
    rotvec_matrix(dx + 3, rot);
    mat3_mul(rot, st.u, out.u);
    for (int e = 0; e < 6; ++e) out.b[kBIdx[e]] += dx[6 + e];
    return out;
}

int Refiner::fit(State* st, const std::vector<Pair>& pairs, double s_yz, double s_ome) const {
    bool active[kNP];
    for (int k = 0; k < kNP; ++k)
        active[k] = k < 3 ? cfg_.fit_position : (k < 6 ? cfg_.fit_orientation : cfg_.fit_strain);
    const bool all_active = cfg_.fit_position && cfg_.fit_orientation && cfg_.fit_strain;
    std::vector<double> r, jac, r_new, jac_new;
    if (!residuals(*st, pairs, s_yz, s_ome, true, &r, &jac)) return 0;
    double cost = 0.0;
    for (double v : r) cost += v * v;
    double mu = 1e-3;
    int it = 0;
    const std::size_t m = r.size();
    for (; it < cfg_.max_iter; ++it) {
        double jtj[kNP * kNP] = {}, jtr[kNP] = {};
        // lower triangle of JᵀJ and Jᵀr; the columns of fixed parameters are zeroed first, so
        // the accumulation has no branches
        if (!all_active)
            for (std::size_t i = 0; i < m; ++i)
                for (int a = 0; a < kNP; ++a)
                    if (!active[a]) jac[i * kNP + static_cast<std::size_t>(a)] = 0.0;
        for (std::size_t i = 0; i < m; ++i) {
            const double* row = jac.data() + i * kNP;
            const double ri = r[i];
            for (int a = 0; a < kNP; ++a) {
                const double ra = row[a];
                jtr[a] += ra * ri;
                double* out = jtj + a * kNP;
                for (int b = 0; b <= a; ++b) out[b] += ra * row[b];
            }
        }
        double max_diag = 0.0;
        for (int a = 0; a < kNP; ++a) {
            for (int b = a + 1; b < kNP; ++b) jtj[a * kNP + b] = jtj[b * kNP + a];
            max_diag = std::max(max_diag, jtj[a * kNP + a]);
        }
        if (!(max_diag > 0.0)) break;
        double gmax = 0.0;
        for (int a = 0; a < kNP; ++a) gmax = std::max(gmax, std::fabs(jtr[a]) / std::sqrt(max_diag));
        if (gmax < 1e-14 * (1.0 + std::sqrt(cost))) break;
        bool accepted = false, converged = false;
        for (int inner = 0; inner < 12; ++inner) {
            double a[kNP * kNP], dx[kNP];
            for (int p = 0; p < kNP; ++p) {
                for (int q = 0; q < kNP; ++q) a[p * kNP + q] = (active[p] && active[q]) ? jtj[p * kNP + q] : 0.0;
                const double d = std::max(jtj[p * kNP + p], 1e-12 * max_diag);
                a[p * kNP + p] = active[p] ? jtj[p * kNP + p] + mu * d : 1.0;
                dx[p] = active[p] ? -jtr[p] : 0.0;
            }
            if (!cholesky_solve(a, dx, kNP)) {
                mu *= 10.0;
                continue;
            }
            // the linear model's cost reduction −(2·dxᵀJᵀr + dxᵀJᵀJ·dx): when the first step of this
            // iteration promises nothing above rounding, the fit has converged
            if (inner == 0) {
                double lin = 0.0;
                for (int p = 0; p < kNP; ++p) {
                    if (!active[p]) continue;
                    double jd = 0.0;
                    for (int q = 0; q < kNP; ++q)
                        if (active[q]) jd += jtj[p * kNP + q] * dx[q];
                    lin += dx[p] * (2.0 * jtr[p] + jd);
                }
                if (-lin <= 1e-14 * cost) return it;
            }
            State trial = apply_step(*st, dx);
            project_position(&trial);
            // the Jacobian at the trial point comes almost free with its residuals, and is the
            // next iteration's when the step is accepted
            if (!feasible(trial) || !residuals(trial, pairs, s_yz, s_ome, true, &r_new, &jac_new)) {
                mu *= 10.0;
                continue;
            }
            double new_cost = 0.0;
            for (double v : r_new) new_cost += v * v;
            if (new_cost < cost) {
                const double rel = (cost - new_cost) / std::max(cost, 1e-300);
                *st = trial;
                cost = new_cost;
                r.swap(r_new);
                jac.swap(jac_new);
                mu = std::max(mu / 3.0, 1e-12);
                accepted = true;
                double step = 0.0;
                for (int p = 0; p < kNP; ++p) step = std::max(step, std::fabs(dx[p]) * std::sqrt(jtj[p * kNP + p]));
                converged = rel < 1e-14 || step < 1e-10;
                break;
            }
            mu *= 4.0;
        }
        if (!accepted) break;
        if (converged) {
            ++it;
            break;
        }
    }
    return it;
}

double robust_scale(std::vector<double>& v) {
    if (v.empty()) return 0.0;
    const std::size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    return 1.4826 * v[mid];
}

void Refiner::scales(const State& st, const std::vector<Pair>& pairs, double* s_yz, double* s_ome) const {
    std::vector<double> r, dummy;
    if (!residuals(st, pairs, 1.0, 1.0, false, &r, &dummy, false)) {
        *s_yz = 0.0;
        *s_ome = 0.0;
        return;
    }
    std::vector<double> yz, om;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        yz.push_back(std::fabs(r[3 * i]));
        yz.push_back(std::fabs(r[3 * i + 1]));
        om.push_back(std::fabs(r[3 * i + 2]));
    }
    *s_yz = robust_scale(yz);
    *s_ome = robust_scale(om);
}

RefinedGrain Refiner::run(const double* u0, const double* p0, const double* b0, int min_spots) const {
    RefinedGrain out;
    State st;
    std::copy(u0, u0 + 9, st.u);
    std::copy(p0, p0 + 3, st.pos);
    std::copy(b0, b0 + 9, st.b);
    project_position(&st);  // start inside the bounds
    std::vector<PredSpot> pred;
    std::vector<Pair> pairs, previous;
    Tolerance tol{true, 0.0, 0.0};
    double s_yz = cfg_.sigma_yz_um, s_ome = cfg_.sigma_ome_deg;
    const double cap_yz = cfg_.margin_radial_um;
    bool converged = false, at_floor = false;
    for (int pass = 0; pass < std::max(1, cfg_.n_passes); ++pass) {
        assign(st, tol, pred, &pairs);
        // drop pairs whose reflection no longer diffracts near the observed ω
        pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [&](const Pair& p) { return !pair_models(st, p); }),
                    pairs.end());
        if (static_cast<int>(pairs.size()) < min_spots) return out;
        const bool same_pairs =
            pass > 0 && pairs.size() == previous.size() &&
            std::equal(pairs.begin(), pairs.end(), previous.begin(),
                       [](const Pair& a, const Pair& b) { return a.obs == b.obs && a.row == b.row; });
        // the last fit left residuals below the σ floors and the spots did not change: another
        // fit (with the floors as weights) cannot move the grain by more than that noise floor
        if (same_pairs && at_floor) {
            converged = true;
            break;
        }
        out.iterations += fit(&st, pairs, s_yz, s_ome);
        double sc_yz, sc_ome;
        scales(st, pairs, &sc_yz, &sc_ome);
        out.scale_yz_um = sc_yz;
        out.scale_ome_deg = sc_ome;
        at_floor = sc_yz <= cfg_.sigma_floor_yz_um && sc_ome <= cfg_.sigma_floor_ome_deg;
        const double new_yz = cfg_.adapt_weights ? std::max(sc_yz, cfg_.sigma_floor_yz_um) : s_yz;
        const double new_ome = cfg_.adapt_weights ? std::max(sc_ome, cfg_.sigma_floor_ome_deg) : s_ome;
        // done when the spots and the weights no longer change: the weights are the residual
        // scales of the fit they weigh (a fixed point), so y/z and ω count by their real noise
        const bool weights_settled = std::fabs(new_yz / s_yz - 1.0) < 0.05 && std::fabs(new_ome / s_ome - 1.0) < 0.05;
        s_yz = new_yz;
        s_ome = new_ome;
        tol.first_pass = false;
        tol.yz_um = std::min(cap_yz, std::max(cfg_.min_tol_yz_um, cfg_.tol_factor * sc_yz));
        tol.ome_deg = std::min(first_ome_cap_, std::max(cfg_.min_tol_ome_deg, cfg_.tol_factor * sc_ome));
        previous = pairs;
        if (same_pairs && weights_settled) {
            converged = true;
            break;
        }
    }
    // statistics over the spots of the last fit when it converged, else over a final assignment
    if (!converged) assign(st, tol, pred, &pairs);
    else predict(st, &pred);
    if (static_cast<int>(pairs.size()) < min_spots) return out;
    out.ok = true;
    std::copy(st.u, st.u + 9, out.orient);
    std::copy(st.pos, st.pos + 3, out.pos_um);
    std::copy(st.b, st.b + 9, out.b_matrix);
    lattice_from_b(st.b, out.lattice);
    for (const PredSpot& p : pred)
        if (p.counts) ++out.n_expected;
    double sum_pos = 0.0, sum_ome = 0.0, sum_ang = 0.0;
    int n_used = 0;
    for (const Pair& pr : pairs) {
        const auto j = static_cast<std::size_t>(pr.obs);
        double g[3], c, sn;
        g_of_row(st, static_cast<std::size_t>(pr.row), g);
        SpotModel m;
        if (!closest_bragg_cs(g, cfg_.wavelength_A, pr.c_obs, pr.s_obs, &c, &sn) ||
            !spot_model_cs(g, st.pos, c, sn, cfg_.wavelength_A, cfg_.lsd_um, cfg_.displacement, false, true, &m))
            continue;
        const double dy = m.y_um - obs_.y_um[j], dz = m.z_um - obs_.z_um[j];
        sum_pos += std::sqrt(dy * dy + dz * dz);
        sum_ome += std::fabs(geometry::wrap_deg(m.omega_deg - obs_.omega_deg[j]));
        double gu[3], tth;
        observed_g(obs_.y_um[j], obs_.z_um[j], obs_.omega_deg[j], st.pos, cfg_.lsd_um, gu, &tth);
        const double gn = std::sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        const double cos_ang = std::max(-1.0, std::min(1.0, (gu[0] * g[0] + gu[1] * g[1] + gu[2] * g[2]) / gn));
        sum_ang += std::acos(cos_ang) / kDeg;
        ++n_used;
        if (ring_counts(hkls_.ring_nr[static_cast<std::size_t>(pr.row)])) ++out.n_matched;
        out.obs.push_back(pr.obs);
        out.hkl_row.push_back(pr.row);
        out.pred.push_back(m.y_um);
        out.pred.push_back(m.z_um);
        out.pred.push_back(m.omega_deg);
    }
    if (n_used > 0) {
        out.diff_pos_um = sum_pos / n_used;
        out.diff_ome_deg = sum_ome / n_used;
        out.diff_angle_deg = sum_ang / n_used;
    }
    return out;
}

}  // namespace

std::vector<RefinedGrain> refine_grains(const ObsSpotsView& obs, const SpotGrid& grid, const RefineHkls& hkls,
                                        const RefineConfig& cfg, span<const double> orient, span<const double> pos_um,
                                        span<const double> b_matrix, int min_spots) {
    const std::size_t n = orient.size() / 9;
    if (orient.size() != 9 * n || pos_um.size() != 3 * n || b_matrix.size() != 9 * n)
        throw ParamError("refine_grains: orient (G, 9), pos_um (G, 3), b_matrix (G, 9) have inconsistent sizes");
    if (hkls.hkl.size() != 3 * hkls.ring_nr.size())
        throw ParamError("refine_grains: hkl must be (H, 3) with H = len(ring_nr)");
    if (hkls.ring_counts.size() != hkls.ring_radius_um.size())
        throw ParamError("refine_grains: ring_counts and ring_radius_um must have the same length");
    for (std::size_t h = 0; h < hkls.ring_nr.size(); ++h)
        if (hkls.ring_nr[h] < 0 || static_cast<std::size_t>(hkls.ring_nr[h]) >= hkls.ring_radius_um.size())
            throw ParamError("refine_grains: hkl row " + std::to_string(h) + " has ring " +
                             std::to_string(hkls.ring_nr[h]) + " outside ring_radius_um");
    if (cfg.omega_windows_deg.size() % 2 != 0 || cfg.boxes_um.size() != 2 * cfg.omega_windows_deg.size())
        throw ParamError("refine_grains: omega windows (W, 2) and boxes (W, 4) do not match");
    if (!(cfg.wavelength_A > 0.0 && cfg.lsd_um > 0.0 && cfg.margin_eta_um > 0.0 && cfg.margin_ome_deg > 0.0 &&
          cfg.margin_radial_um > 0.0 && cfg.step_orient_deg >= 0.0 && cfg.sigma_yz_um > 0.0 &&
          cfg.sigma_ome_deg > 0.0 && cfg.sigma_floor_yz_um > 0.0 && cfg.sigma_floor_ome_deg > 0.0 &&
          cfg.tol_factor > 0.0 && cfg.max_iter >= 0))
        throw ParamError("refine_grains: wavelength, Lsd, margins, sigmas and tol_factor must be > 0");
    const Refiner refiner(obs, grid, hkls, cfg);
    std::vector<RefinedGrain> out(n);
    const auto nn = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t g = 0; g < nn; ++g) {
        const auto u = static_cast<std::size_t>(g);
        out[u] = refiner.run(orient.data() + 9 * u, pos_um.data() + 3 * u, b_matrix.data() + 9 * u, min_spots);
    }
    return out;
}

void spot_models(span<const double> g, span<const double> pos_um, span<const double> omega_rad, double wavelength_A,
                 double lsd_um, Displacement form, span<std::uint8_t> ok, span<double> values, span<double> d_dg,
                 span<double> d_dpos) {
    const std::size_t n = omega_rad.size();
    if (g.size() != 3 * n || pos_um.size() != 3 * n || ok.size() != n || values.size() != 5 * n ||
        d_dg.size() != 9 * n || d_dpos.size() != 9 * n)
        throw ParamError("spot_models: inconsistent array sizes");
    for (std::size_t i = 0; i < n; ++i) {
        SpotModel m;
        ok[i] = spot_model(g.data() + 3 * i, pos_um.data() + 3 * i, omega_rad[i], wavelength_A, lsd_um, form, true, &m)
                    ? 1
                    : 0;
        const double v[5] = {m.y_um, m.z_um, m.omega_deg, m.eta_deg, m.tth_deg};
        for (std::size_t a = 0; a < 5; ++a) values[5 * i + a] = v[a];
        for (std::size_t a = 0; a < 3; ++a)
            for (std::size_t c = 0; c < 3; ++c) {
                d_dg[9 * i + 3 * a + c] = m.d_dg[a][c];
                d_dpos[9 * i + 3 * a + c] = m.d_dpos[a][c];
            }
    }
}

}  // namespace midas::ff
