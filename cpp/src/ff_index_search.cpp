// ff_index_search.cpp — FF indexing kernel (see midas/ff/index_search.hpp for the algorithm).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/crystal/misorientation.hpp"
#include "midas/ff/index_search.hpp"
#include "midas/ff/index_windows.hpp"
#include "midas/ff/refine_model.hpp"

namespace midas::ff {

namespace {

constexpr double kDeg = M_PI / 180.0;

using crystallography::Quat;

struct RowData {
    double sin_theta;  // λ|g_c|/2
    double v;          // |g_c|·sin θ (rotation-invariant)
    double radius_um;  // Lsd·tan 2θ
    int ring;
};

/// A predicted spot that passed the windows, with its detector path as a function of μ.
struct Pred {
    double g[3];            // scattering vector, sample frame
    double omega_deg;
    double ome_tol_deg;
    double a[2], b[2];      // (y, z)(μ) = a + μ·b on the ideal plane
    int ring;
    bool counts;
};

struct Interval {
    double lo, hi;
    std::int32_t pred;
    std::int32_t obs;
};

struct Candidate {
    int n_expected = 0;
    int n_matched = 0;
    double ia_deg = 0.0;
    double mu = 0.0;
    std::vector<std::int32_t> matched;
};

struct Workspace {
    std::vector<Pred> pred;
    std::vector<Interval> iv;
    std::vector<std::pair<double, int>> events;
    std::vector<std::pair<double, double>> segments;
    std::vector<double> par, perp, cross;  // per hkl row, 3 each
    std::vector<std::int32_t> matched_tmp;
    std::vector<std::int32_t> pairs_tmp;
    std::vector<double> arc_tan;  // per ring: tan of the η tolerance (with the coarse widening)
};

/// Largest error of fast_eta_deg, degrees (the polynomial's 1e-5 rad, rounded up).
constexpr double kFastEtaErrDeg = 2e-3;

/// η (degrees, docs/conventions.md: η = atan2(−y, z)) from a degree-9 odd polynomial for atan on
/// [0, 1] (absolute error below 1e-5 rad) and octant reduction; for pre-filters only.
inline double fast_eta_deg(double y, double z) {
    const double ay = std::fabs(y), az = std::fabs(z);
    const double mx = std::max(ay, az);
    if (!(mx > 0.0)) return 0.0;
    const double t = std::min(ay, az) / mx;
    const double t2 = t * t;
    double a = t * (0.9998660 + t2 * (-0.3302995 + t2 * (0.1801410 + t2 * (-0.0851330 + t2 * 0.0208351))));
    if (ay > az) a = 0.5 * M_PI - a;  // angle from the +z axis towards ∓y
    if (z < 0.0) a = M_PI - a;
    return (y > 0.0 ? -a : a) / kDeg;
}

struct Line {
    double p0[3];   // sample frame, µm
    double d[3];    // unit direction, sample frame
    double mu_lo, mu_hi;
};

/// Is `cand` better than `other`: higher completeness, then lower internal angle.
bool better(int m_a, int e_a, double ia_a, int m_b, int e_b, double ia_b) {
    const long long lhs = static_cast<long long>(m_a) * e_b, rhs = static_cast<long long>(m_b) * e_a;
    if (lhs != rhs) return lhs > rhs;
    return ia_a < ia_b;
}

class Indexer {
   public:
    Indexer(const ObsSpotsView& obs, const SpotGrid& grid, const IndexHkls& hkls, const IndexConfig& cfg)
        : obs_(obs), grid_(grid), hkls_(hkls), cfg_(cfg) {
        const std::size_t n_rows = hkls.ring_nr.size();
        rows_.resize(n_rows);
        for (std::size_t h = 0; h < n_rows; ++h) {
            const double* gc = hkls.g_crystal.data() + 3 * h;
            const double len = std::sqrt(gc[0] * gc[0] + gc[1] * gc[1] + gc[2] * gc[2]);
            const double st = 0.5 * cfg.wavelength_A * len;
            rows_[h].sin_theta = st;
            rows_[h].v = len * st;
            rows_[h].radius_um = st < 1.0 ? cfg.lsd_um * std::tan(2.0 * std::asin(st)) : 0.0;
            rows_[h].ring = hkls.ring_nr[h];
        }
        // evaluate rows of the rings with the fewest expected chance matches first (observed spots
        // on the ring × η tolerance), so that wrong candidates are rejected early
        std::vector<double> ring_rate(hkls.ring_radius_um.size(), 0.0);
        for (std::size_t r = 0; r < ring_rate.size(); ++r) ring_rate[r] = static_cast<double>(grid.ring_count(static_cast<int>(r)));
        for (std::size_t r = 0; r < ring_rate.size(); ++r) {
            const double rr = hkls.ring_radius_um[r];
            ring_rate[r] *= rr > 0.0 ? std::atan(cfg.margin_eta_um / rr) + 0.5 * cfg.step_orient_deg * kDeg : 0.0;
        }
        row_order_.resize(n_rows);
        for (std::size_t h = 0; h < n_rows; ++h) row_order_[h] = h;
        std::stable_sort(row_order_.begin(), row_order_.end(), [&](std::size_t a, std::size_t b) {
            const auto ra = static_cast<std::size_t>(std::max(0, rows_[a].ring));
            const auto rb = static_cast<std::size_t>(std::max(0, rows_[b].ring));
            const double xa = ra < ring_rate.size() ? ring_rate[ra] : 0.0;
            const double xb = rb < ring_rate.size() ? ring_rate[rb] : 0.0;
            return xa < xb;
        });
        for (std::size_t k = 0; k < hkls.sym_quat.size() / 4; ++k)
            sym_.push_back(Quat{hkls.sym_quat[4 * k], hkls.sym_quat[4 * k + 1], hkls.sym_quat[4 * k + 2],
                                hkls.sym_quat[4 * k + 3]});
        windows_ = SpotWindows{cfg.omega_windows_deg, cfg.boxes_um};
        ring_table_ = RingTable{hkls.ring_radius_um, hkls.ring_counts};
        sin_min_eta_ = std::sin(cfg.min_eta_deg * kDeg);
        const std::size_t n_ring_slots = hkls.ring_radius_um.size();
        eta_tol_deg_.assign(n_ring_slots, 0.0);
        for (std::size_t r = 0; r < n_ring_slots; ++r) {
            const double rr = hkls.ring_radius_um[r];
            if (rr > 0.0)
                eta_tol_deg_[r] = std::atan(cfg.margin_eta_um / rr) / kDeg + 0.5 * cfg.step_orient_deg;
        }
    }

    std::vector<IndexSolution> run_seed(std::int32_t seed, Workspace& ws, SeedStats* stats) const;

   private:
    [[nodiscard]] bool in_windows(double omega_deg, double y0, double z0) const {
        return windows_.contains(omega_deg, y0, z0);
    }
    [[nodiscard]] double ring_radius(int ring) const { return ring_table_.radius(ring); }
    [[nodiscard]] bool ring_counts(int ring) const { return ring_table_.counted(ring); }

    void plane_normals(std::int32_t seed, std::vector<std::pair<double, double>>* normals, int* n_friedel) const;
    bool make_line(std::int32_t seed, double y0, double z0, Line* line) const;
    bool evaluate(const double* par, const double* perp, const double* cross, double cphi, double sphi,
                  const Line& line, double seed_radius, double target_frac, Workspace& ws, Candidate* out,
                  SeedStats* stats, double extra_deg = 0.0, bool count_only = false) const;

    const ObsSpotsView& obs_;
    const SpotGrid& grid_;
    const IndexHkls& hkls_;
    const IndexConfig& cfg_;
    std::vector<RowData> rows_;
    std::vector<std::size_t> row_order_;
    std::vector<Quat> sym_;
    std::vector<double> eta_tol_deg_;
    SpotWindows windows_;
    RingTable ring_table_;
    double sin_min_eta_ = 0.0;
};

void Indexer::plane_normals(std::int32_t seed, std::vector<std::pair<double, double>>* normals,
                            int* n_friedel) const {
    normals->clear();
    *n_friedel = 0;
    const auto s = static_cast<std::size_t>(seed);
    const int ring = obs_.ring_nr[s];
    const double radius = ring_radius(ring);
    const double ys = obs_.y_um[s], zs = obs_.z_um[s], ws = obs_.omega_deg[s];
    const double lsd = cfg_.lsd_um;
    const double ty = cfg_.rsample_um * (1.0 + radius / lsd) + cfg_.margin_radial_um;
    const double tz = 0.5 * cfg_.hbeam_um + cfg_.rsample_um * radius / lsd + cfg_.margin_radial_um;
    if (cfg_.use_friedel) {
        // the mate's ideal spot is (y0, -z0) at ω + 180
        const double eta_m = geometry::eta_from_yz(ys, -zs) / kDeg;
        const double half = std::atan((2.0 * cfg_.rsample_um + cfg_.hbeam_um) / radius) / kDeg + 1.0;
        const double wm = geometry::wrap_deg(ws + 180.0);
        grid_.query(ring, eta_m - half, eta_m + half, wm - cfg_.margin_ome_deg, wm + cfg_.margin_ome_deg,
                    [&](std::int32_t j) {
                        const auto u = static_cast<std::size_t>(j);
                        if (j == seed) return;
                        if (std::fabs(geometry::wrap_deg(obs_.omega_deg[u] - wm)) >= cfg_.margin_ome_deg) return;
                        const double ym = obs_.y_um[u], zm = obs_.z_um[u];
                        const double my = 0.5 * (ys + ym), mz = 0.5 * (zs - zm);
                        const double mr = std::sqrt(my * my + mz * mz);
                        if (!(mr > 0.0) || std::fabs(mr - radius) >= cfg_.margin_radial_um) return;
                        if (std::fabs(0.5 * (zs + zm)) > 0.5 * cfg_.hbeam_um + cfg_.margin_radial_um) return;
                        if (std::fabs(0.5 * (ys - ym)) > ty) return;
                        normals->emplace_back(my * radius / mr, mz * radius / mr);
                    });
        *n_friedel = static_cast<int>(normals->size());
        if (!normals->empty() || !cfg_.friedel_fallback) return;
    }
    // arc search: ring points within the sample box around the seed, StepSizePos apart
    const double eta_s = geometry::eta_from_yz(ys, zs);
    const double d_eta = cfg_.step_pos_um / radius;
    const int k_max = static_cast<int>(std::floor(M_PI / d_eta));
    for (int k = 0; k <= k_max; ++k) {
        bool any = false;
        for (int sign = (k == 0 ? 1 : -1); sign <= 1; sign += 2) {
            const double e = eta_s + sign * k * d_eta;
            const double y0 = -radius * std::sin(e), z0 = radius * std::cos(e);
            if (std::fabs(y0 - ys) <= ty && std::fabs(z0 - zs) <= tz) {
                normals->emplace_back(y0, z0);
                any = true;
            }
        }
        if (!any && k > 0) break;
    }
}

bool Indexer::make_line(std::int32_t seed, double y0, double z0, Line* line) const {
    const auto s = static_cast<std::size_t>(seed);
    const double w = obs_.omega_deg[s] * kDeg;
    const double c = std::cos(w), sn = std::sin(w);
    const double lsd = cfg_.lsd_um;
    const double n = std::sqrt(lsd * lsd + y0 * y0 + z0 * z0);
    const double p_lab[3] = {0.0, obs_.y_um[s] - y0, obs_.z_um[s] - z0};
    const double d_lab[3] = {lsd / n, y0 / n, z0 / n};
    // sample frame: Rz(−ω)
    line->p0[0] = p_lab[0] * c + p_lab[1] * sn;
    line->p0[1] = -p_lab[0] * sn + p_lab[1] * c;
    line->p0[2] = p_lab[2];
    line->d[0] = d_lab[0] * c + d_lab[1] * sn;
    line->d[1] = -d_lab[0] * sn + d_lab[1] * c;
    line->d[2] = d_lab[2];
    double lo = -1e300, hi = 1e300;
    const double hz = 0.5 * cfg_.hbeam_um + cfg_.position_slack_um;
    if (std::fabs(line->d[2]) > 1e-15) {
        double a = (-hz - line->p0[2]) / line->d[2], b = (hz - line->p0[2]) / line->d[2];
        if (a > b) std::swap(a, b);
        lo = std::max(lo, a);
        hi = std::min(hi, b);
    } else if (std::fabs(line->p0[2]) > hz) {
        return false;
    }
    const double rs = cfg_.rsample_um + cfg_.position_slack_um;
    const double qa = line->d[0] * line->d[0] + line->d[1] * line->d[1];
    const double qb = 2.0 * (line->p0[0] * line->d[0] + line->p0[1] * line->d[1]);
    const double qc = line->p0[0] * line->p0[0] + line->p0[1] * line->p0[1] - rs * rs;
    if (qa > 1e-15) {
        const double disc = qb * qb - 4.0 * qa * qc;
        if (disc < 0.0) return false;
        const double sq = std::sqrt(disc);
        lo = std::max(lo, (-qb - sq) / (2.0 * qa));
        hi = std::min(hi, (-qb + sq) / (2.0 * qa));
    } else if (qc > 0.0) {
        return false;
    }
    if (!(hi >= lo)) return false;
    line->mu_lo = lo;
    line->mu_hi = hi;
    return true;
}

// One orientation candidate: G_h = par_h + cos φ·perp_h + sin φ·cross_h.
bool Indexer::evaluate(const double* par, const double* perp, const double* cross, double cphi, double sphi,
                       const Line& line, double seed_radius, double target_frac, Workspace& ws,
                       Candidate* out, SeedStats* stats, double extra_deg, bool count_only) const {
    const double lsd = cfg_.lsd_um;
    const std::size_t n_rows = rows_.size();
    ws.pred.clear();
    ws.iv.clear();
    ws.arc_tan.resize(eta_tol_deg_.size());
    for (std::size_t r = 0; r < eta_tol_deg_.size(); ++r) ws.arc_tan[r] = std::tan((eta_tol_deg_[r] + extra_deg) * kDeg);
    int n_exp = 0, matched_upper = 0;
    for (std::size_t step = 0; step < n_rows; ++step) {
        const std::size_t h = row_order_[step];
        const RowData& row = rows_[h];
        if (row.radius_um <= 0.0) continue;
        double g[3];
        for (int k = 0; k < 3; ++k) g[k] = par[3 * h + k] + cphi * perp[3 * h + k] + sphi * cross[3 * h + k];
        double cs[2][2];
        const int n_sol = bragg_cos_sin(g[0], g[1], row.v, cs);
        for (int k = 0; k < n_sol; ++k) {
            const double c = cs[k][0], s = cs[k][1];
            const double gly = g[0] * s + g[1] * c, glz = g[2];
            const double rho = std::sqrt(gly * gly + glz * glz);
            if (!(rho > 0.0)) continue;
            const double sin_eta = std::fabs(gly) / rho;
            if (sin_eta < sin_min_eta_) continue;
            const double y0 = row.radius_um * gly / rho, z0 = row.radius_um * glz / rho;
            const double omega_deg = std::atan2(s, c) / kDeg;
            if (!in_windows(omega_deg, y0, z0)) continue;
            ++stats->n_spots;
            const bool counts = ring_counts(row.ring);
            if (counts) ++n_exp;
            // path of the displaced spot: P_lab(μ) = Rz(ω)(p0 + μ d), parallel displacement
            const double ax = line.p0[0] * c - line.p0[1] * s, ay = line.p0[0] * s + line.p0[1] * c, az = line.p0[2];
            const double bx = line.d[0] * c - line.d[1] * s, by = line.d[0] * s + line.d[1] * c, bz = line.d[2];
            Pred p;
            p.g[0] = g[0];
            p.g[1] = g[1];
            p.g[2] = g[2];
            p.omega_deg = omega_deg;
            p.ome_tol_deg = cfg_.margin_ome_deg + (0.5 * cfg_.step_orient_deg + extra_deg) / sin_eta;
            p.a[0] = y0 + ay - ax * y0 / lsd;
            p.a[1] = z0 + az - ax * z0 / lsd;
            p.b[0] = by - bx * y0 / lsd;
            p.b[1] = bz - bx * z0 / lsd;
            p.ring = row.ring;
            p.counts = counts;
            const auto pid = static_cast<std::int32_t>(ws.pred.size());
            ws.pred.push_back(p);
            // η range of the path: its midpoint's η ± half its length seen from the ring
            const double mu_mid = 0.5 * (line.mu_lo + line.mu_hi);
            const double ym = p.a[0] + mu_mid * p.b[0], zm = p.a[1] + mu_mid * p.b[1];
            const double half_len = 0.5 * (line.mu_hi - line.mu_lo) * std::sqrt(p.b[0] * p.b[0] + p.b[1] * p.b[1]);
            const double rm = std::sqrt(ym * ym + zm * zm);
            // only the grid query uses this η range (the matches are then tested exactly), so a
            // fast η good to kFastEtaErrDeg, with the range widened by as much, suffices
            const double e_mid = fast_eta_deg(ym, zm);
            const double x = half_len / rm;  // asin(x) ≤ x·(1 + x²/5) for x ≤ 0.5
            const double e_half = x < 0.5 ? x * (1.0 + 0.2 * x * x) / kDeg + kFastEtaErrDeg : 180.0;
            const double etol = eta_tol_deg_[static_cast<std::size_t>(row.ring)] + extra_deg;
            const double arc_tan = ws.arc_tan[static_cast<std::size_t>(row.ring)];
            const double e_lo = e_mid - e_half - etol, e_hi = e_mid + e_half + etol;
            const std::size_t before = ws.iv.size();
            const bool check_radius = counts && cfg_.margin_radius_um > 0.0;
            grid_.query(row.ring, e_lo, e_hi, omega_deg - p.ome_tol_deg, omega_deg + p.ome_tol_deg,
                        [&](std::int32_t j) {
                            const auto u = static_cast<std::size_t>(j);
                            ++stats->n_tests;
                            if (std::fabs(geometry::wrap_deg(obs_.omega_deg[u] - omega_deg)) >= p.ome_tol_deg) return;
                            if (check_radius &&
                                std::fabs(obs_.grain_radius_um[u] - seed_radius) >= cfg_.margin_radius_um)
                                return;
                            const double qy = obs_.y_um[u], qz = obs_.z_um[u];
                            const double qr = std::sqrt(qy * qy + qz * qz);
                            if (!(qr > 0.0)) return;
                            const double ny = qy / qr, nz = qz / qr;  // radial; tangent (-nz, ny)
                            const double dy = p.a[0] - qy, dz = p.a[1] - qz;
                            double lo = line.mu_lo, hi = line.mu_hi;
                            auto clip = [&](double alpha, double beta, double m) {
                                if (std::fabs(beta) < 1e-300) {
                                    if (std::fabs(alpha) >= m) hi = lo - 1.0;
                                    return;
                                }
                                double x0 = (-m - alpha) / beta, x1 = (m - alpha) / beta;
                                if (x0 > x1) std::swap(x0, x1);
                                lo = std::max(lo, x0);
                                hi = std::min(hi, x1);
                            };
                            clip(ny * dy + nz * dz, ny * p.b[0] + nz * p.b[1], cfg_.margin_radial_um);
                            clip(-nz * dy + ny * dz, -nz * p.b[0] + ny * p.b[1], qr * arc_tan);
                            if (hi >= lo) ws.iv.push_back(Interval{lo, hi, pid, j});
                        });
            if (counts && ws.iv.size() > before) ++matched_upper;
        }
        // give up when even matching every later spot cannot reach the target fraction
        const double remaining = 2.0 * static_cast<double>(n_rows - step - 1);
        if ((1.0 - target_frac) * remaining < target_frac * n_exp - matched_upper - 1e-9) return false;
    }
    if (n_exp == 0 || matched_upper < target_frac * n_exp - 1e-9) return false;

    // best μ: the point covered by the most distinct counting predicted spots
    ws.events.clear();
    std::size_t i = 0;
    while (i < ws.iv.size()) {
        std::size_t j = i;
        while (j < ws.iv.size() && ws.iv[j].pred == ws.iv[i].pred) ++j;
        if (ws.pred[static_cast<std::size_t>(ws.iv[i].pred)].counts) {
            std::sort(ws.iv.begin() + static_cast<std::ptrdiff_t>(i), ws.iv.begin() + static_cast<std::ptrdiff_t>(j),
                      [](const Interval& x, const Interval& y) { return x.lo < y.lo || (x.lo == y.lo && x.obs < y.obs); });
            double lo = ws.iv[i].lo, hi = ws.iv[i].hi;
            for (std::size_t k = i + 1; k < j; ++k) {
                if (ws.iv[k].lo <= hi) {
                    hi = std::max(hi, ws.iv[k].hi);
                } else {
                    ws.events.emplace_back(lo, 0);
                    ws.events.emplace_back(hi, 1);
                    lo = ws.iv[k].lo;
                    hi = ws.iv[k].hi;
                }
            }
            ws.events.emplace_back(lo, 0);
            ws.events.emplace_back(hi, 1);
        }
        i = j;
    }
    std::sort(ws.events.begin(), ws.events.end());  // opening (0) before closing (1) at equal μ
    int cur = 0, best = -1;
    ws.segments.clear();
    for (std::size_t k = 0; k < ws.events.size(); ++k) {
        cur += ws.events[k].second == 0 ? 1 : -1;
        if (ws.events[k].second == 0) {
            const double start = ws.events[k].first;
            const double end = (k + 1 < ws.events.size()) ? ws.events[k + 1].first : start;
            if (cur > best) {
                best = cur;
                ws.segments.clear();
            }
            if (cur == best && ws.segments.size() < 8) ws.segments.emplace_back(start, end);
        }
    }
    if (best < 0 || best < target_frac * n_exp - 1e-9) return false;
    if (count_only) {
        out->n_expected = n_exp;
        out->n_matched = best;
        return true;
    }

    // among the best segments: choose each prediction's observed spot at the segment midpoint,
    // move μ to the least-squares point of the radial and arc offsets of those pairs (inside the
    // segment), and keep the segment with the smallest mean internal angle there
    bool have = false;
    for (const auto& seg : ws.segments) {
        const double mid = 0.5 * (seg.first + seg.second);
        ws.matched_tmp.clear();
        ws.pairs_tmp.clear();
        double sab = 0.0, sbb = 0.0;
        std::size_t a = 0;
        while (a < ws.iv.size()) {
            std::size_t b = a;
            while (b < ws.iv.size() && ws.iv[b].pred == ws.iv[a].pred) ++b;
            const Pred& p = ws.pred[static_cast<std::size_t>(ws.iv[a].pred)];
            double best_d = 1e300;
            std::int32_t best_j = -1;
            for (std::size_t k = a; k < b; ++k) {
                if (mid < ws.iv[k].lo || mid > ws.iv[k].hi) continue;
                const auto u = static_cast<std::size_t>(ws.iv[k].obs);
                const double py = p.a[0] + mid * p.b[0], pz = p.a[1] + mid * p.b[1];
                const double dy = py - obs_.y_um[u], dz = pz - obs_.z_um[u];
                const double dw = geometry::wrap_deg(obs_.omega_deg[u] - p.omega_deg) / p.ome_tol_deg;
                const double d = (dy * dy + dz * dz) / (cfg_.margin_radial_um * cfg_.margin_radial_um) + dw * dw;
                if (d < best_d) {
                    best_d = d;
                    best_j = ws.iv[k].obs;
                }
            }
            if (best_j >= 0) {
                const auto u = static_cast<std::size_t>(best_j);
                const double qy = obs_.y_um[u], qz = obs_.z_um[u];
                const double qr = std::sqrt(qy * qy + qz * qz);
                const double ny = qy / qr, nz = qz / qr;
                const double m_t = qr * std::tan(eta_tol_deg_[static_cast<std::size_t>(p.ring)] * kDeg);
                const double dy = p.a[0] - qy, dz = p.a[1] - qz;
                const double ar = ny * dy + nz * dz, br = ny * p.b[0] + nz * p.b[1];
                const double at = -nz * dy + ny * dz, bt = -nz * p.b[0] + ny * p.b[1];
                const double wr = 1.0 / (cfg_.margin_radial_um * cfg_.margin_radial_um), wt = 1.0 / (m_t * m_t);
                sab += wr * ar * br + wt * at * bt;
                sbb += wr * br * br + wt * bt * bt;
                ws.matched_tmp.push_back(best_j);
                ws.pairs_tmp.push_back(static_cast<std::int32_t>(a));
            }
            a = b;
        }
        double mu = sbb > 0.0 ? -sab / sbb : mid;
        mu = std::max(seg.first, std::min(seg.second, mu));
        const double pos[3] = {line.p0[0] + mu * line.d[0], line.p0[1] + mu * line.d[1], line.p0[2] + mu * line.d[2]};
        double ia_sum = 0.0;
        for (std::size_t k = 0; k < ws.matched_tmp.size(); ++k) {
            const Pred& p = ws.pred[static_cast<std::size_t>(ws.iv[static_cast<std::size_t>(ws.pairs_tmp[k])].pred)];
            const auto u = static_cast<std::size_t>(ws.matched_tmp[k]);
            double gu[3], tth;
            observed_g(obs_.y_um[u], obs_.z_um[u], obs_.omega_deg[u], pos, cfg_.lsd_um, gu, &tth);
            const double gn = std::sqrt(p.g[0] * p.g[0] + p.g[1] * p.g[1] + p.g[2] * p.g[2]);
            double cosang = (gu[0] * p.g[0] + gu[1] * p.g[1] + gu[2] * p.g[2]) / gn;
            cosang = std::max(-1.0, std::min(1.0, cosang));
            ia_sum += std::acos(cosang) / kDeg;
        }
        const double ia = ws.matched_tmp.empty() ? 0.0 : ia_sum / static_cast<double>(ws.matched_tmp.size());
        if (!have || ia < out->ia_deg) {
            have = true;
            out->ia_deg = ia;
            out->mu = mu;
            out->matched = ws.matched_tmp;
        }
    }
    out->n_expected = n_exp;
    out->n_matched = best;
    return have;
}

std::vector<IndexSolution> Indexer::run_seed(std::int32_t seed, Workspace& ws, SeedStats* stats) const {
    std::vector<IndexSolution> kept;
    std::vector<Quat> kept_q;
    const auto s = static_cast<std::size_t>(seed);
    const int ring = obs_.ring_nr[s];
    if (ring <= 0 || ring_radius(ring) <= 0.0) return kept;
    std::vector<std::pair<double, double>> normals;
    int n_friedel = 0;
    plane_normals(seed, &normals, &n_friedel);
    stats->n_normals = static_cast<std::int32_t>(normals.size());
    stats->n_friedel = n_friedel;
    const double lsd = cfg_.lsd_um;
    const double w = obs_.omega_deg[s] * kDeg;
    const double cw = std::cos(w), sw = std::sin(w);
    const std::size_t n_rows = rows_.size();
    ws.par.resize(3 * n_rows);
    ws.perp.resize(3 * n_rows);
    ws.cross.resize(3 * n_rows);
    const std::size_t n_reps = hkls_.rep_ring.size();
    const int max_keep = std::max(1, cfg_.max_solutions);
    Candidate cand;
    for (const auto& nm : normals) {
        Line line;
        if (!make_line(seed, nm.first, nm.second, &line)) continue;
        // plane normal ĝ (sample frame) of the ideal spot (y0, z0) at ω_s
        const double n = std::sqrt(lsd * lsd + nm.first * nm.first + nm.second * nm.second);
        double gl[3] = {lsd / n - 1.0, nm.first / n, nm.second / n};
        const double gln = std::sqrt(gl[0] * gl[0] + gl[1] * gl[1] + gl[2] * gl[2]);
        for (double& v : gl) v /= gln;
        const double gs[3] = {gl[0] * cw + gl[1] * sw, -gl[0] * sw + gl[1] * cw, gl[2]};
        for (std::size_t q = 0; q < n_reps; ++q) {
            if (hkls_.rep_ring[q] != ring) continue;
            const double* gc = hkls_.rep_g_unit.data() + 3 * q;
            // R0: rotation taking gc onto gs about gc × gs
            double axis[3] = {gc[1] * gs[2] - gc[2] * gs[1], gc[2] * gs[0] - gc[0] * gs[2], gc[0] * gs[1] - gc[1] * gs[0]};
            const double sa = std::sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
            const double ca = gc[0] * gs[0] + gc[1] * gs[1] + gc[2] * gs[2];
            double r0[9];
            if (sa < 1e-12) {
                if (ca > 0) {
                    for (int k = 0; k < 9; ++k) r0[k] = (k % 4 == 0) ? 1.0 : 0.0;
                } else {  // 180° about any axis normal to gc
                    double t[3] = {0.0, 0.0, 0.0};
                    t[std::fabs(gc[0]) < 0.9 ? 0 : 1] = 1.0;
                    double ax2[3] = {gc[1] * t[2] - gc[2] * t[1], gc[2] * t[0] - gc[0] * t[2], gc[0] * t[1] - gc[1] * t[0]};
                    const double an = std::sqrt(ax2[0] * ax2[0] + ax2[1] * ax2[1] + ax2[2] * ax2[2]);
                    for (double& v : ax2) v /= an;
                    axis_angle_matrix(ax2, M_PI, r0);
                }
            } else {
                for (double& v : axis) v /= sa;
                axis_angle_matrix(axis, std::atan2(sa, ca), r0);
            }
            // per-row decomposition of G0 = R0·gc_h about ĝ
            for (std::size_t h = 0; h < n_rows; ++h) {
                double g0[3];
                mat3_vec(r0, hkls_.g_crystal.data() + 3 * h, g0);
                const double dp = g0[0] * gs[0] + g0[1] * gs[1] + g0[2] * gs[2];
                for (int k = 0; k < 3; ++k) {
                    ws.par[3 * h + k] = dp * gs[k];
                    ws.perp[3 * h + k] = g0[k] - dp * gs[k];
                }
                ws.cross[3 * h + 0] = gs[1] * g0[2] - gs[2] * g0[1];
                ws.cross[3 * h + 1] = gs[2] * g0[0] - gs[0] * g0[2];
                ws.cross[3 * h + 2] = gs[0] * g0[1] - gs[1] * g0[0];
            }
            const double max_angle = hkls_.rep_max_angle_deg[q];
            const int n_steps = std::max(1, static_cast<int>(std::lround(max_angle / cfg_.step_orient_deg)));
            // coarse-to-fine: a block of `coarse` steps is first tested at its centre with the
            // tolerances widened by half the block; only blocks that pass are scanned step by step
            const int coarse = std::max(1, cfg_.coarse_steps);
            const int n_blocks = (n_steps + coarse - 1) / coarse;
            auto target_now = [&]() {
                double t = cfg_.completeness;
                if (static_cast<int>(kept.size()) >= max_keep) {
                    const IndexSolution& worst = kept.back();
                    t = std::max(t, static_cast<double>(worst.n_matched) / worst.n_expected);
                }
                return t;
            };
            for (int blk = 0; blk < n_blocks; ++blk) {
                const int k0 = blk * coarse, k1 = std::min(n_steps, k0 + coarse);
                if (coarse > 1) {
                    const double phi_c = 0.5 * (k0 + k1 - 1) * cfg_.step_orient_deg * kDeg;
                    const double extra = 0.5 * (k1 - k0 - 1) * cfg_.step_orient_deg;
                    ++stats->n_candidates;
                    if (!evaluate(ws.par.data(), ws.perp.data(), ws.cross.data(), std::cos(phi_c), std::sin(phi_c),
                                  line, obs_.grain_radius_um[s], target_now(), ws, &cand, stats, extra, true))
                        continue;
                }
                for (int k = k0; k < k1; ++k) {
                const double phi = k * cfg_.step_orient_deg * kDeg;
                const double target = target_now();
                ++stats->n_candidates;
                if (!evaluate(ws.par.data(), ws.perp.data(), ws.cross.data(), std::cos(phi), std::sin(phi), line,
                              obs_.grain_radius_um[s], target, ws, &cand, stats))
                    continue;
                // accepted: build the solution
                IndexSolution sol;
                double rot[9];
                axis_angle_matrix(gs, phi, rot);
                mat3_mul(rot, r0, sol.orient);
                for (int a = 0; a < 3; ++a) sol.pos_um[a] = line.p0[a] + cand.mu * line.d[a];
                sol.n_expected = cand.n_expected;
                sol.n_matched = cand.n_matched;
                sol.internal_angle_deg = cand.ia_deg;
                sol.matched = cand.matched;
                const Quat qs = crystallography::quat_from_matrix(sol.orient);
                // distinct-solution bookkeeping (best first)
                int similar = -1;
                for (std::size_t t = 0; t < kept.size(); ++t) {
                    const double ang = crystallography::misorientation_one(qs, kept_q[t], sym_.data(),
                                                                           static_cast<int>(sym_.size()), nullptr);
                    if (ang < cfg_.distinct_deg * kDeg) {
                        similar = static_cast<int>(t);
                        break;
                    }
                }
                auto better_sol = [](const IndexSolution& x, const IndexSolution& y) {
                    return better(x.n_matched, x.n_expected, x.internal_angle_deg, y.n_matched, y.n_expected,
                                  y.internal_angle_deg);
                };
                if (similar >= 0) {
                    if (!better_sol(sol, kept[static_cast<std::size_t>(similar)])) continue;
                    kept[static_cast<std::size_t>(similar)] = std::move(sol);
                    kept_q[static_cast<std::size_t>(similar)] = qs;
                } else if (static_cast<int>(kept.size()) < max_keep) {
                    kept.push_back(std::move(sol));
                    kept_q.push_back(qs);
                } else if (better_sol(sol, kept.back())) {
                    kept.back() = std::move(sol);
                    kept_q.back() = qs;
                } else {
                    continue;
                }
                // keep best first (insertion sort on the short list)
                for (std::size_t t = kept.size(); t-- > 1;) {
                    if (better_sol(kept[t], kept[t - 1])) {
                        std::swap(kept[t], kept[t - 1]);
                        std::swap(kept_q[t], kept_q[t - 1]);
                    }
                }
                }
            }
        }
    }
    return kept;
}

}  // namespace

std::vector<std::vector<IndexSolution>> index_seeds(const ObsSpotsView& obs, const SpotGrid& grid,
                                                    const IndexHkls& hkls, const IndexConfig& cfg,
                                                    span<const std::int32_t> seeds, std::vector<SeedStats>* stats) {
    const std::size_t n_obs = obs.size();
    if (hkls.g_crystal.size() != 3 * hkls.ring_nr.size())
        throw ParamError("index_seeds: g_crystal must be (H, 3) with H = len(ring_nr)");
    const std::size_t n_reps = hkls.rep_ring.size();
    if (hkls.rep_g_unit.size() != 3 * n_reps || hkls.rep_max_angle_deg.size() != n_reps)
        throw ParamError("index_seeds: representative arrays have inconsistent lengths");
    if (hkls.ring_counts.size() != hkls.ring_radius_um.size())
        throw ParamError("index_seeds: ring_counts and ring_radius_um must have the same length");
    if (hkls.sym_quat.empty() || hkls.sym_quat.size() % 4 != 0)
        throw ParamError("index_seeds: sym_quat must be a non-empty (M, 4) array");
    if (cfg.omega_windows_deg.size() % 2 != 0 || cfg.boxes_um.size() != 2 * cfg.omega_windows_deg.size())
        throw ParamError("index_seeds: omega windows (W, 2) and boxes (W, 4) do not match");
    if (!(cfg.wavelength_A > 0.0 && cfg.lsd_um > 0.0 && cfg.step_orient_deg > 0.0 && cfg.step_pos_um > 0.0 &&
          cfg.rsample_um >= 0.0 && cfg.hbeam_um >= 0.0 && cfg.margin_eta_um > 0.0 && cfg.margin_ome_deg > 0.0 &&
          cfg.margin_radial_um > 0.0 && cfg.completeness > 0.0 && cfg.completeness <= 1.0))
        throw ParamError("index_seeds: wavelength, Lsd, step sizes, margins must be > 0 and 0 < completeness <= 1");
    for (std::size_t k = 0; k < seeds.size(); ++k)
        if (seeds[k] < 0 || static_cast<std::size_t>(seeds[k]) >= n_obs)
            throw ParamError("index_seeds: seed " + std::to_string(seeds[k]) + " is not a spot index (0.." +
                             std::to_string(n_obs) + ")");
    for (std::size_t q = 0; q < n_reps; ++q)
        if (!(hkls.rep_max_angle_deg[q] > 0.0 && hkls.rep_max_angle_deg[q] <= 360.0))
            throw ParamError("index_seeds: representative max angle must be in (0, 360]");

    const Indexer indexer(obs, grid, hkls, cfg);
    std::vector<std::vector<IndexSolution>> out(seeds.size());
    stats->assign(seeds.size(), SeedStats{});
    const auto n = static_cast<std::int64_t>(seeds.size());
#pragma omp parallel
    {
        Workspace ws;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t k = 0; k < n; ++k) {
            const auto u = static_cast<std::size_t>(k);
            out[u] = indexer.run_seed(seeds[u], ws, &(*stats)[u]);
        }
    }
    return out;
}

}  // namespace midas::ff
