// NF orientation fitting (screening + Nelder–Mead + plateau centring) and geometry refinement.
#include <nlopt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "midas/core/error.hpp"
#include "midas/crystal/misorientation.hpp"
#include "midas/nf/fit_orientation.hpp"

namespace midas::nf {

namespace {

/// R(axis e_k, t)·u for a rotation by t (rad) about sample axis k.
void rotate_about_axis(const double u[9], int k, double t, double out[9]) {
    const double c = std::cos(t), s = std::sin(t);
    double r[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const int a = (k + 1) % 3, b = (k + 2) % 3;
    r[3 * a + a] = c;
    r[3 * a + b] = -s;
    r[3 * b + a] = s;
    r[3 * b + b] = c;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            out[3 * i + j] = r[3 * i + 0] * u[j] + r[3 * i + 1] * u[3 + j] + r[3 * i + 2] * u[6 + j];
}

/// Objective state of one voxel.
struct VoxelProblem {
    const Experiment* e;
    const HklSet* h;
    const Triangle* tri;
    const BitTable* bits;
    Workspace* ws;
    std::int32_t n_evals = 0;

    double fraction(const double u[9]) {
        ++n_evals;
        return orientation_overlap(*e, *h, *tri, u, *bits, bits->layout, *ws).fraction();
    }
    double fraction_euler(const double eul[3]) {
        double u[9];
        euler_to_matrix(eul, u);
        return fraction(u);
    }
    double soft_euler(const double eul[3]) {
        ++n_evals;
        double u[9];
        euler_to_matrix(eul, u);
        const std::size_t ns = compute_spots<true>(*e, *h, u, ws->spots);
        return soft_overlap<spot_stride>(*e, *tri, span<const double>(ws->spots.data(), spot_stride * ns), *bits,
                                         bits->layout, *ws);
    }
};

double nm_soft_objective(unsigned /*n*/, const double* x, double* /*grad*/, void* data) {
    return 1.0 - static_cast<VoxelProblem*>(data)->soft_euler(x);
}

double nm_objective(unsigned /*n*/, const double* x, double* /*grad*/, void* data) {
    auto* p = static_cast<VoxelProblem*>(data);
    return 1.0 - p->fraction_euler(x);
}

/// One NLopt Nelder–Mead run from x inside [lb, ub]; `step` > 0 sets the initial simplex step
/// (else NLopt's default from the bounds). Returns the minimum, x updated; false on failure.
bool run_nelder_mead(nlopt_func f, void* data, double x[3], const double lb[3], const double ub[3], double step,
                     const FitSettings& s, double& minf, double xtol_abs = 0.0) {
    nlopt_opt opt = nlopt_create(NLOPT_LN_NELDERMEAD, 3);
    if (opt == nullptr) throw Error("NLopt could not create a Nelder-Mead optimiser");
    nlopt_set_lower_bounds(opt, lb);
    nlopt_set_upper_bounds(opt, ub);
    nlopt_set_min_objective(opt, f, data);
    nlopt_set_maxeval(opt, s.max_eval);
    nlopt_set_ftol_rel(opt, s.ftol_rel);
    nlopt_set_xtol_rel(opt, s.xtol_rel);
    if (step > 0.0) nlopt_set_initial_step1(opt, step);
    if (xtol_abs > 0.0) nlopt_set_xtol_abs1(opt, xtol_abs);
    minf = 1.0;
    const nlopt_result rc = nlopt_optimize(opt, x, &minf);
    nlopt_destroy(opt);
    return rc > 0 || rc == NLOPT_ROUNDOFF_LIMITED;
}

/// Upstream's refinement of one winner: Nelder–Mead on 1 − fraction from `eul` within ±tol (box
/// returned in lb, ub), initial step s.search_step_rad (0: NLopt's default, upstream's). Returns
/// the best fraction, `eul` updated.
double refine_euler(VoxelProblem& p, double eul[3], double lb[3], double ub[3], const FitSettings& s) {
    for (int i = 0; i < 3; ++i) {
        lb[i] = eul[i] - s.orient_tol_rad;
        ub[i] = eul[i] + s.orient_tol_rad;
    }
    double x[3] = {eul[0], eul[1], eul[2]};
    double minf = 1.0;
    if (!run_nelder_mead(nm_objective, &p, x, lb, ub, s.search_step_rad, s, minf)) return p.fraction_euler(eul);
    std::copy(x, x + 3, eul);
    return 1.0 - minf;
}

/// Soft stage of the polish: Nelder–Mead on the graded agreement from `eul` (initial step
/// soft_step), then on 1 − fraction with a small simplex (polish_step). Keeps the result when its
/// fraction is not lower than `f`. Returns the fraction, `eul` updated.
double soft_polish(VoxelProblem& p, double eul[3], double f, const double lb[3], const double ub[3],
                   const FitSettings& s) {
    double x[3] = {eul[0], eul[1], eul[2]};
    double minf = 1.0;
    if (!run_nelder_mead(nm_soft_objective, &p, x, lb, ub, s.soft_step_rad, s, minf, s.soft_xtol_rad)) return f;
    if (!run_nelder_mead(nm_objective, &p, x, lb, ub, s.polish_step_rad, s, minf)) return f;
    if (1.0 - minf >= f) {
        std::copy(x, x + 3, eul);
        f = 1.0 - minf;
    }
    return f;
}

/// Move u to the centre of its plateau of fraction ≥ f (see the header); returns the final fraction.
double centre_plateau(VoxelProblem& p, double u[9], double f, const FitSettings& s) {
    const double tmax = s.plateau_max_rad > 0.0 ? s.plateau_max_rad : s.orient_tol_rad;
    const double tol = s.plateau_tol_rad;
    constexpr double slack = 1e-12;
    int restarts = 0;
    for (int sweep = 0; sweep < s.centre_sweeps; ++sweep) {
        for (int k = 0; k < 3; ++k) {
            double edge[2] = {0.0, 0.0};
            bool improved = false;
            for (int d = 0; d < 2 && !improved; ++d) {
                const double sign = d == 0 ? 1.0 : -1.0;
                double good = 0.0, bad = -1.0, t = 2.0 * tol;
                double trial[9];
                while (t <= tmax) {
                    rotate_about_axis(u, k, sign * t, trial);
                    const double ft = p.fraction(trial);
                    if (ft > f + slack && restarts < 4) {  // a better plateau: move there, start again
                        std::copy(trial, trial + 9, u);
                        f = ft;
                        improved = true;
                        break;
                    }
                    if (ft < f - slack) {
                        bad = t;
                        break;
                    }
                    good = t;
                    t *= 2.0;
                }
                if (improved) break;
                if (bad < 0.0) {
                    edge[d] = good;  // plateau reaches the search limit
                    continue;
                }
                while (bad - good > tol) {
                    const double mid = 0.5 * (good + bad);
                    rotate_about_axis(u, k, sign * mid, trial);
                    const double fm = p.fraction(trial);
                    if (fm > f + slack && restarts < 4) {
                        std::copy(trial, trial + 9, u);
                        f = fm;
                        improved = true;
                        break;
                    }
                    if (fm >= f - slack)
                        good = mid;
                    else
                        bad = mid;
                }
                edge[d] = good;
            }
            if (improved) {
                ++restarts;
                sweep = -1;  // restart both sweeps from the better point
                break;
            }
            const double shift = 0.5 * (edge[0] - edge[1]);
            if (shift != 0.0) {
                double moved[9];
                rotate_about_axis(u, k, shift, moved);
                std::copy(moved, moved + 9, u);
            }
        }
    }
    return p.fraction(u);
}

struct Candidate {
    double eul[3];
    double lb[3];
    double ub[3];
    double frac;
    std::int32_t order;
};

}  // namespace

std::vector<crystallography::Quat> symmetry_quats(span<const double> sym) {
    std::vector<crystallography::Quat> q(sym.size() / 9);
    for (std::size_t k = 0; k < q.size(); ++k) q[k] = crystallography::quat_from_matrix(&sym[9 * k]);
    if (q.empty()) q.push_back(crystallography::Quat{1.0, 0.0, 0.0, 0.0});
    return q;
}

double misorientation_rad(const double a[9], const double b[9], const std::vector<crystallography::Quat>& sym) {
    return crystallography::misorientation_one(crystallography::quat_from_matrix(a), crystallography::quat_from_matrix(b),
                                               sym.data(), static_cast<int>(sym.size()), nullptr);
}

std::vector<double> screen_voxel(const Experiment& e, const SeedTable& seeds, const Triangle& tri,
                                 const BitTable& bits) {
    const std::size_t ns = seeds.key.size() / 2;
    std::vector<double> out(ns, 0.0);
    Workspace ws;
    for (std::size_t i = 0; i < ns; ++i) {
        const auto n = static_cast<std::size_t>(seeds.key[2 * i]);
        const auto off = static_cast<std::size_t>(seeds.key[2 * i + 1]);
        out[i] = count_overlap<3>(e, tri, span<const double>(seeds.spots.data() + 3 * off, 3 * n), bits, bits.layout, ws)
                     .fraction();
    }
    return out;
}

namespace {

void check_seeds(const SeedTable& seeds) {
    const std::size_t ns = seeds.key.size() / 2;
    if (seeds.key.size() % 2 != 0 || seeds.orient_mats.size() != 9 * ns)
        throw ParamError("NF seeds: " + std::to_string(seeds.orient_mats.size() / 9) + " orientation matrices but " +
                         std::to_string(seeds.key.size() / 2) + " Key rows");
    const std::size_t total = seeds.spots.size() / 3;
    for (std::size_t i = 0; i < ns; ++i) {
        const std::int64_t n = seeds.key[2 * i], off = seeds.key[2 * i + 1];
        if (n < 0 || off < 0 || static_cast<std::size_t>(n + off) > total)
            throw ParamError("NF seeds: Key row " + std::to_string(i) + " (" + std::to_string(n) + ", " + std::to_string(off) +
                             ") points outside the " + std::to_string(total) + " DiffractionSpots rows");
    }
}

}  // namespace

void fit_grid(const Experiment& e, const HklSet& h, const SeedTable& seeds, span<const double> grid,
              std::int64_t row_begin, std::int64_t row_end, const BitTable& bits, span<const double> sym,
              const FitSettings& s, span<double> mic, span<double> all_matches, span<std::int32_t> n_evals) {
    check_layout_matches(e, bits.layout);
    check_seeds(seeds);
    if (grid.size() % 5 != 0) throw ParamError("NF grid: rows must have 5 values (y1 y2 xs ys gs)");
    const auto n_rows = static_cast<std::int64_t>(grid.size() / 5);
    if (row_begin < 0 || row_end > n_rows || row_begin > row_end)
        throw ParamError("NF fit: rows [" + std::to_string(row_begin) + ", " + std::to_string(row_end) + ") outside the grid of " +
                         std::to_string(n_rows) + " points");
    if (s.save_n < 1) throw ParamError("NF fit: SaveNSolutions = " + std::to_string(s.save_n) + ", expected >= 1");
    if (!(s.orient_tol_rad > 0.0)) throw ParamError("NF fit: OrientTol must be > 0");
    const int row_all = all_matches_row_size(s.save_n);
    if (mic.size() != static_cast<std::size_t>(n_rows) * mic_row_size ||
        all_matches.size() != static_cast<std::size_t>(n_rows) * static_cast<std::size_t>(row_all) ||
        n_evals.size() != static_cast<std::size_t>(n_rows))
        throw ParamError("NF fit: output arrays do not match the grid size");
    if (sym.size() % 9 != 0) throw ParamError("NF fit: symmetry operators must be (M, 3, 3)");
    const std::size_t ns = seeds.key.size() / 2;
    const auto sym_q = symmetry_quats(sym);

#pragma omp parallel
    {
        Workspace ws;
        std::vector<std::int32_t> winners;
        std::vector<Candidate> cands;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t r = row_begin; r < row_end; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            int ud = 0;
            const Triangle tri = triangle_from_grid_row(&grid[static_cast<std::size_t>(5 * r)], ud);
            VoxelProblem prob{&e, &h, &tri, &bits, &ws, 0};
            winners.clear();
            for (std::size_t i = 0; i < ns; ++i) {
                const auto n = static_cast<std::size_t>(seeds.key[2 * i]);
                const auto off = static_cast<std::size_t>(seeds.key[2 * i + 1]);
                const double f =
                    count_overlap<3>(e, tri, span<const double>(seeds.spots.data() + 3 * off, 3 * n), bits, bits.layout, ws)
                        .fraction();
                if (f >= s.min_frac_accept) winners.push_back(static_cast<std::int32_t>(i));
            }
            n_evals[static_cast<std::size_t>(r)] = 0;
            if (winners.empty()) continue;
            cands.clear();
            double best_frac = -1.0;
            std::int32_t best_idx = -1;
            for (std::size_t w = 0; w < winners.size(); ++w) {
                const double* u0 = &seeds.orient_mats[9 * static_cast<std::size_t>(winners[w])];
                Candidate c{};
                matrix_to_euler(u0, c.eul);
                c.frac = refine_euler(prob, c.eul, c.lb, c.ub, s);
                c.order = static_cast<std::int32_t>(w);
                cands.push_back(c);
                if (c.frac >= best_frac) {
                    best_frac = c.frac;
                    best_idx = static_cast<std::int32_t>(w);
                    if (1.0 - best_frac < 1e-4 && s.save_n == 1) break;
                }
            }
            Candidate best = cands[static_cast<std::size_t>(best_idx)];
            if (s.polish && best.frac >= s.polish_min_frac) {
                best.frac = soft_polish(prob, best.eul, best.frac, best.lb, best.ub, s);
                double u[9];
                euler_to_matrix(best.eul, u);
                best.frac = centre_plateau(prob, u, best.frac, s);
                matrix_to_euler(u, best.eul);
            }
            // SaveNSolutions: best first, then the others by decreasing fraction (stable), deduplicated
            std::vector<Candidate> order;
            order.reserve(cands.size());
            for (const auto& c : cands)
                if (c.order != best_idx) order.push_back(c);
            std::stable_sort(order.begin(), order.end(), [](const Candidate& a, const Candidate& b) { return a.frac > b.frac; });
            std::vector<Candidate> kept{best};
            for (const auto& c : order) {
                if (static_cast<std::int32_t>(kept.size()) >= s.save_n) break;
                double uc[9];
                euler_to_matrix(c.eul, uc);
                bool distinct = true;
                for (const auto& k : kept) {
                    double uk[9];
                    euler_to_matrix(k.eul, uk);
                    if (misorientation_rad(uk, uc, sym_q) < s.min_miso_rad) {
                        distinct = false;
                        break;
                    }
                }
                if (distinct) kept.push_back(c);
            }
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const double xs = grid[static_cast<std::size_t>(5 * r + 2)], ys = grid[static_cast<std::size_t>(5 * r + 3)];
            const double edge = 2.0 * tri.half_edge_um;
            double* m = &mic[static_cast<std::size_t>(r) * mic_row_size];
            m[0] = static_cast<double>(winners[static_cast<std::size_t>(best_idx)]);
            m[1] = static_cast<double>(winners.size());
            m[2] = elapsed;
            m[3] = xs;
            m[4] = ys;
            m[5] = edge;
            m[6] = static_cast<double>(ud);
            m[7] = best.eul[0];
            m[8] = best.eul[1];
            m[9] = best.eul[2];
            m[10] = best.frac;
            double* a = &all_matches[static_cast<std::size_t>(r) * static_cast<std::size_t>(row_all)];
            std::fill(a, a + row_all, 0.0);
            a[1] = static_cast<double>(winners.size());
            a[3] = xs;
            a[4] = ys;
            a[5] = edge;
            a[6] = static_cast<double>(ud);
            for (std::size_t k = 0; k < kept.size(); ++k) {
                a[7 + 4 * k] = kept[k].eul[0];
                a[8 + 4 * k] = kept[k].eul[1];
                a[9 + 4 * k] = kept[k].eul[2];
                a[10 + 4 * k] = kept[k].frac;
            }
            n_evals[static_cast<std::size_t>(r)] = prob.n_evals;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Geometry refinement

namespace {

struct GeometryProblem {
    const ExperimentSpec* start;
    const HklSet* h;
    span<const Triangle> voxels;
    const BitTable* bits;
    std::size_t n_layers;
    std::vector<double> euler;       ///< (K·3) current voxel orientations
    std::vector<double> last_fracs;
    std::int32_t n_evals = 0;
    bool soft = false;  ///< maximise the graded agreement (soft_overlap) instead of the fraction

    [[nodiscard]] std::size_t n_geometry() const { return 3 + 3 * n_layers; }

    ExperimentSpec spec_of(const double* x) const {
        ExperimentSpec sp = *start;
        sp.tx_deg = x[0];
        sp.ty_deg = x[1];
        sp.tz_deg = x[2];
        sp.lsd_um[0] = x[3];
        for (std::size_t l = 1; l < n_layers; ++l) sp.lsd_um[l] = sp.lsd_um[l - 1] + x[3 + l];
        for (std::size_t l = 0; l < n_layers; ++l) {
            sp.ybc_px[l] = x[3 + n_layers + l];
            sp.zbc_px[l] = x[3 + 2 * n_layers + l];
        }
        return sp;
    }

    /// Mean fraction (or graded agreement) of the voxels for geometry x.
    double mean_fraction(const double* x) {
        ++n_evals;
        const Experiment e = make_experiment(spec_of(x));
        const auto nv = static_cast<std::int64_t>(voxels.size());
        last_fracs.assign(voxels.size(), 0.0);
#pragma omp parallel
        {
            Workspace ws;
#pragma omp for schedule(dynamic, 1)
            for (std::int64_t i = 0; i < nv; ++i) {
                double u[9];
                euler_to_matrix(&euler[static_cast<std::size_t>(3 * i)], u);
                const Triangle& tri = voxels[static_cast<std::size_t>(i)];
                if (soft) {
                    const std::size_t ns = compute_spots<true>(e, *h, u, ws.spots);
                    last_fracs[static_cast<std::size_t>(i)] = soft_overlap<spot_stride>(
                        e, tri, span<const double>(ws.spots.data(), spot_stride * ns), *bits, bits->layout, ws);
                } else {
                    last_fracs[static_cast<std::size_t>(i)] = orientation_overlap(e, *h, tri, u, *bits, bits->layout, ws).fraction();
                }
            }
        }
        double sum = 0.0;
        for (double f : last_fracs) sum += f;  // fixed order: thread-count independent
        return sum / static_cast<double>(voxels.size());
    }

    /// Refine every voxel's Euler angles for geometry x (soft then exact Nelder–Mead, inside
    /// [elb, eub]); OpenMP over voxels.
    void refine_orientations(const double* x, const std::vector<double>& elb, const std::vector<double>& eub) {
        const Experiment e = make_experiment(spec_of(x));
        const auto nv = static_cast<std::int64_t>(voxels.size());
        FitSettings fs;
        std::int32_t evals = 0;
#pragma omp parallel reduction(+ : evals)
        {
            Workspace ws;
#pragma omp for schedule(dynamic, 1)
            for (std::int64_t i = 0; i < nv; ++i) {
                const auto k = static_cast<std::size_t>(3 * i);
                VoxelProblem vp{&e, h, &voxels[static_cast<std::size_t>(i)], bits, &ws, 0};
                double* eul = &euler[k];
                const double f = vp.fraction_euler(eul);
                soft_polish(vp, eul, f, &elb[k], &eub[k], fs);
                evals += vp.n_evals;
            }
        }
        n_evals += evals;
    }
};

double geometry_objective(unsigned /*n*/, const double* x, double* /*grad*/, void* data) {
    return 1.0 - static_cast<GeometryProblem*>(data)->mean_fraction(x);
}

}  // namespace

GeometryFit refine_geometry(const ExperimentSpec& start, span<const double> g_crystal, span<const double> theta_deg,
                            span<const Triangle> voxels, span<const double> euler_rad, const std::uint32_t* words,
                            const BitLayout& layout, const GeometryTolerances& tol) {
    const Experiment e0 = make_experiment(start);
    check_layout_matches(e0, layout);
    const HklSet h = make_hkls(g_crystal, theta_deg);
    if (voxels.empty()) throw ParamError("NF geometry refinement: no voxel given");
    if (euler_rad.size() != 3 * voxels.size())
        throw ParamError("NF geometry refinement: " + std::to_string(voxels.size()) + " voxels but " +
                         std::to_string(euler_rad.size() / 3) + " Euler triplets");
    if (tol.iterations < 1) throw ParamError("NF geometry refinement: NumIterations must be >= 1");
    const std::size_t nl = start.lsd_um.size();
    const std::size_t n = 3 + 3 * nl;
    std::vector<double> x(n), lb(n), ub(n);
    auto set = [&](std::size_t i, double v, double half) {
        x[i] = v;
        lb[i] = v - half;
        ub[i] = v + half;
    };
    set(0, start.tx_deg, tol.tilt_deg);
    set(1, start.ty_deg, tol.tilt_deg);
    set(2, start.tz_deg, tol.tilt_deg);
    set(3, start.lsd_um[0], tol.lsd_um);
    for (std::size_t l = 1; l < nl; ++l) set(3 + l, start.lsd_um[l] - start.lsd_um[l - 1], tol.lsd_rel_um);
    for (std::size_t l = 0; l < nl; ++l) {
        set(3 + nl + l, start.ybc_px[l], tol.bc_y_px);
        set(3 + 2 * nl + l, start.zbc_px[l], tol.bc_z_px);
    }
    std::vector<double> elb(euler_rad.size()), eub(euler_rad.size());
    for (std::size_t i = 0; i < euler_rad.size(); ++i) {
        elb[i] = euler_rad[i] - tol.orient_deg * deg;
        eub[i] = euler_rad[i] + tol.orient_deg * deg;
    }

    const BitTable bits = make_bit_table(span<const std::uint32_t>(words, n_words(layout)), layout);
    GeometryProblem prob{&start, &h, voxels, &bits, nl, std::vector<double>(euler_rad.begin(), euler_rad.end()), {}, 0};
    GeometryFit out;
    out.mean_fraction_start = prob.mean_fraction(x.data());
    auto nelder_mead = [&](std::vector<double>& xs, bool soft) {
        prob.soft = soft;
        nlopt_opt opt = nlopt_create(NLOPT_LN_NELDERMEAD, static_cast<unsigned>(n));
        if (opt == nullptr) throw Error("NLopt could not create a Nelder-Mead optimiser");
        nlopt_set_lower_bounds(opt, lb.data());
        nlopt_set_upper_bounds(opt, ub.data());
        nlopt_set_min_objective(opt, geometry_objective, &prob);
        nlopt_set_maxeval(opt, tol.max_eval);
        nlopt_set_ftol_rel(opt, 1e-7);
        nlopt_set_xtol_rel(opt, 1e-7);
        nlopt_set_stopval(opt, 1e-9);
        double minf = 1.0;
        nlopt_optimize(opt, xs.data(), &minf);
        nlopt_destroy(opt);
        prob.soft = false;
    };
    // Alternate: every voxel's orientation for the current geometry, then the geometry for those
    // orientations (Nelder–Mead on the graded agreement, whose basin is wide, then on the fraction).
    std::vector<double> best_x = x;
    std::vector<double> best_eul = prob.euler;
    double best = out.mean_fraction_start;
    for (std::int32_t it = 0; it < tol.iterations; ++it) {
        prob.refine_orientations(x.data(), elb, eub);
        nelder_mead(x, true);
        nelder_mead(x, false);
        const double f = prob.mean_fraction(x.data());
        if (f > best) {
            best = f;
            best_x = x;
            best_eul = prob.euler;
        }
        if (best > 1.0 - 1e-9) break;
    }
    prob.euler = best_eul;
    out.mean_fraction = prob.mean_fraction(best_x.data());
    out.spec = prob.spec_of(best_x.data());
    out.euler_rad = best_eul;
    out.fractions = prob.last_fracs;
    out.n_evals = prob.n_evals;
    return out;
}

}  // namespace midas::nf
