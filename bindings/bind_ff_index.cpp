// bindings/bind_ff_index.cpp — FF indexing and refinement kernels (conversion only).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "midas/ff/index_grid.hpp"
#include "midas/ff/index_search.hpp"
#include "midas/ff/refine_fit.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::to_numpy;

namespace {

/// Observed spots copied into owned storage, with their look-up grid.
class SpotIndex {
   public:
    SpotIndex(const carray<double>& y_um, const carray<double>& z_um, const carray<double>& omega_deg,
              const carray<double>& eta_deg, const carray<double>& grain_radius_um,
              const carray<std::int32_t>& ring_nr, double eta_cell_deg, double omega_cell_deg) {
        const auto n = y_um.shape(0);
        check_shape(y_um, "y_um", {n});
        check_shape(z_um, "z_um", {n});
        check_shape(omega_deg, "omega_deg", {n});
        check_shape(eta_deg, "eta_deg", {n});
        check_shape(grain_radius_um, "grain_radius_um", {n});
        check_shape(ring_nr, "ring_nr", {n});
        y_.assign(y_um.data(), y_um.data() + n);
        z_.assign(z_um.data(), z_um.data() + n);
        w_.assign(omega_deg.data(), omega_deg.data() + n);
        e_.assign(eta_deg.data(), eta_deg.data() + n);
        r_.assign(grain_radius_um.data(), grain_radius_um.data() + n);
        ring_.assign(ring_nr.data(), ring_nr.data() + n);
        view_ = midas::ff::ObsSpotsView{y_, z_, w_, e_, r_, ring_};
        grid_ = midas::ff::SpotGrid(view_, eta_cell_deg, omega_cell_deg);
    }
    [[nodiscard]] const midas::ff::ObsSpotsView& view() const { return view_; }
    [[nodiscard]] const midas::ff::SpotGrid& grid() const { return grid_; }
    [[nodiscard]] std::size_t size() const { return y_.size(); }

   private:
    std::vector<double> y_, z_, w_, e_, r_;
    std::vector<std::int32_t> ring_;
    midas::ff::ObsSpotsView view_;
    midas::ff::SpotGrid grid_;
};

void check_windows(const carray<double>& windows, const carray<double>& boxes) {
    check_shape(windows, "omega_windows_deg", {-1, 2});
    check_shape(boxes, "boxes_um", {windows.shape(0), 4});
}

py::dict index_seeds(const SpotIndex& spots, const carray<double>& g_crystal, const carray<std::int32_t>& ring_nr,
                     const carray<double>& ring_radius_um, const carray<std::uint8_t>& ring_counts,
                     const carray<std::int32_t>& rep_ring, const carray<double>& rep_g_unit,
                     const carray<double>& rep_max_angle_deg, const carray<double>& sym_quat,
                     const carray<std::int32_t>& seeds, double wavelength_A, double lsd_um, double rsample_um,
                     double hbeam_um, double position_slack_um, double step_pos_um, double step_orient_deg, double margin_eta_um,
                     double margin_ome_deg, double margin_radial_um, double margin_radius_um, double completeness,
                     double min_eta_deg, bool use_friedel, bool friedel_fallback, int max_solutions, int coarse_steps,
                     double distinct_deg, const carray<double>& omega_windows_deg, const carray<double>& boxes_um) {
    check_shape(g_crystal, "g_crystal", {-1, 3});
    check_shape(ring_nr, "ring_nr", {g_crystal.shape(0)});
    check_shape(ring_radius_um, "ring_radius_um", {-1});
    check_shape(ring_counts, "ring_counts", {ring_radius_um.shape(0)});
    check_shape(rep_ring, "rep_ring", {-1});
    check_shape(rep_g_unit, "rep_g_unit", {rep_ring.shape(0), 3});
    check_shape(rep_max_angle_deg, "rep_max_angle_deg", {rep_ring.shape(0)});
    check_shape(sym_quat, "sym_quat", {-1, 4});
    check_shape(seeds, "seeds", {-1});
    check_windows(omega_windows_deg, boxes_um);
    midas::ff::IndexHkls hk{cspan(g_crystal), cspan(ring_nr), cspan(ring_radius_um), cspan(ring_counts),
                            cspan(rep_ring), cspan(rep_g_unit), cspan(rep_max_angle_deg), cspan(sym_quat)};
    midas::ff::IndexConfig cfg;
    cfg.wavelength_A = wavelength_A;
    cfg.lsd_um = lsd_um;
    cfg.rsample_um = rsample_um;
    cfg.hbeam_um = hbeam_um;
    cfg.position_slack_um = position_slack_um;
    cfg.step_pos_um = step_pos_um;
    cfg.step_orient_deg = step_orient_deg;
    cfg.margin_eta_um = margin_eta_um;
    cfg.margin_ome_deg = margin_ome_deg;
    cfg.margin_radial_um = margin_radial_um;
    cfg.margin_radius_um = margin_radius_um;
    cfg.completeness = completeness;
    cfg.min_eta_deg = min_eta_deg;
    cfg.use_friedel = use_friedel;
    cfg.friedel_fallback = friedel_fallback;
    cfg.max_solutions = max_solutions;
    cfg.coarse_steps = coarse_steps;
    cfg.distinct_deg = distinct_deg;
    cfg.omega_windows_deg = cspan(omega_windows_deg);
    cfg.boxes_um = cspan(boxes_um);
    std::vector<std::vector<midas::ff::IndexSolution>> sols;
    std::vector<midas::ff::SeedStats> stats;
    {
        py::gil_scoped_release release;
        sols = midas::ff::index_seeds(spots.view(), spots.grid(), hk, cfg, cspan(seeds), &stats);
    }
    std::size_t n_sol = 0, n_match = 0;
    for (const auto& s : sols)
        for (const auto& x : s) {
            ++n_sol;
            n_match += x.matched.size();
        }
    std::vector<std::int32_t> seed_of(n_sol), n_exp(n_sol), n_mat(n_sol), matched;
    std::vector<std::int64_t> offsets(n_sol + 1, 0);
    std::vector<double> orient(9 * n_sol), pos(3 * n_sol), ia(n_sol);
    matched.reserve(n_match);
    std::size_t k = 0;
    for (std::size_t i = 0; i < sols.size(); ++i)
        for (const auto& x : sols[i]) {
            seed_of[k] = static_cast<std::int32_t>(i);
            for (int a = 0; a < 9; ++a) orient[9 * k + static_cast<std::size_t>(a)] = x.orient[a];
            for (int a = 0; a < 3; ++a) pos[3 * k + static_cast<std::size_t>(a)] = x.pos_um[a];
            n_exp[k] = x.n_expected;
            n_mat[k] = x.n_matched;
            ia[k] = x.internal_angle_deg;
            matched.insert(matched.end(), x.matched.begin(), x.matched.end());
            offsets[k + 1] = static_cast<std::int64_t>(matched.size());
            ++k;
        }
    std::vector<std::int32_t> st_normals(stats.size()), st_friedel(stats.size());
    std::vector<std::int64_t> st_cand(stats.size()), st_spots(stats.size()), st_tests(stats.size());
    for (std::size_t i = 0; i < stats.size(); ++i) {
        st_normals[i] = stats[i].n_normals;
        st_friedel[i] = stats[i].n_friedel;
        st_cand[i] = stats[i].n_candidates;
        st_spots[i] = stats[i].n_spots;
        st_tests[i] = stats[i].n_tests;
    }
    const auto ns = static_cast<py::ssize_t>(n_sol);
    const auto nseed = static_cast<py::ssize_t>(stats.size());
    py::dict out;
    out["seed"] = to_numpy(std::move(seed_of), {ns});
    out["orient"] = to_numpy(std::move(orient), {ns, 3, 3});
    out["pos_um"] = to_numpy(std::move(pos), {ns, 3});
    out["n_expected"] = to_numpy(std::move(n_exp), {ns});
    out["n_matched"] = to_numpy(std::move(n_mat), {ns});
    out["internal_angle_deg"] = to_numpy(std::move(ia), {ns});
    const auto nm = static_cast<py::ssize_t>(matched.size());
    out["matched"] = to_numpy(std::move(matched), {nm});
    out["matched_offsets"] = to_numpy(std::move(offsets), {ns + 1});
    out["n_normals"] = to_numpy(std::move(st_normals), {nseed});
    out["n_friedel"] = to_numpy(std::move(st_friedel), {nseed});
    out["n_candidates"] = to_numpy(std::move(st_cand), {nseed});
    out["n_spots"] = to_numpy(std::move(st_spots), {nseed});
    out["n_tests"] = to_numpy(std::move(st_tests), {nseed});
    return out;
}

py::dict refine(const SpotIndex& spots, const carray<double>& hkl, const carray<std::int32_t>& ring_nr,
                const carray<double>& ring_radius_um, const carray<std::uint8_t>& ring_counts,
                const carray<double>& orient, const carray<double>& pos_um, const carray<double>& b_matrix,
                double wavelength_A, double lsd_um, const std::string& displacement, double min_eta_deg,
                const carray<double>& omega_windows_deg, const carray<double>& boxes_um, double margin_eta_um,
                double margin_ome_deg, double margin_radial_um, double step_orient_deg, double tol_factor,
                double min_tol_yz_um, double min_tol_ome_deg, double sigma_yz_um, double sigma_ome_deg,
                double sigma_floor_yz_um, double sigma_floor_ome_deg, int n_passes, bool adapt_weights, double huber_k,
                int max_iter, double rsample_um,
                double hbeam_um, double marg_abc_pct, double marg_abg_pct, const carray<double>& lattice_ref,
                bool fit_position, bool fit_orientation, bool fit_strain, int min_spots) {
    check_shape(hkl, "hkl", {-1, 3});
    check_shape(ring_nr, "ring_nr", {hkl.shape(0)});
    check_shape(ring_radius_um, "ring_radius_um", {-1});
    check_shape(ring_counts, "ring_counts", {ring_radius_um.shape(0)});
    check_shape(orient, "orient", {-1, 3, 3});
    const auto n = orient.shape(0);
    check_shape(pos_um, "pos_um", {n, 3});
    check_shape(b_matrix, "b_matrix", {n, 3, 3});
    check_shape(lattice_ref, "lattice_ref", {6});
    check_windows(omega_windows_deg, boxes_um);
    midas::ff::RefineHkls hk{cspan(hkl), cspan(ring_nr), cspan(ring_radius_um), cspan(ring_counts)};
    midas::ff::RefineConfig cfg;
    cfg.wavelength_A = wavelength_A;
    cfg.lsd_um = lsd_um;
    if (displacement == "parallel") {
        cfg.displacement = midas::ff::Displacement::parallel;
    } else if (displacement == "toward_point") {
        cfg.displacement = midas::ff::Displacement::toward_point;
    } else {
        throw midas::ParamError("displacement = '" + displacement + "', expected 'parallel' or 'toward_point'");
    }
    cfg.min_eta_deg = min_eta_deg;
    cfg.omega_windows_deg = cspan(omega_windows_deg);
    cfg.boxes_um = cspan(boxes_um);
    cfg.margin_eta_um = margin_eta_um;
    cfg.margin_ome_deg = margin_ome_deg;
    cfg.margin_radial_um = margin_radial_um;
    cfg.step_orient_deg = step_orient_deg;
    cfg.tol_factor = tol_factor;
    cfg.min_tol_yz_um = min_tol_yz_um;
    cfg.min_tol_ome_deg = min_tol_ome_deg;
    cfg.sigma_yz_um = sigma_yz_um;
    cfg.sigma_ome_deg = sigma_ome_deg;
    cfg.sigma_floor_yz_um = sigma_floor_yz_um;
    cfg.sigma_floor_ome_deg = sigma_floor_ome_deg;
    cfg.n_passes = n_passes;
    cfg.adapt_weights = adapt_weights;
    cfg.huber_k = huber_k;
    cfg.max_iter = max_iter;
    cfg.rsample_um = rsample_um;
    cfg.hbeam_um = hbeam_um;
    cfg.marg_abc_pct = marg_abc_pct;
    cfg.marg_abg_pct = marg_abg_pct;
    for (int k = 0; k < 6; ++k) cfg.lattice_ref[k] = lattice_ref.data()[k];
    cfg.fit_position = fit_position;
    cfg.fit_orientation = fit_orientation;
    cfg.fit_strain = fit_strain;
    std::vector<midas::ff::RefinedGrain> res;
    {
        py::gil_scoped_release release;
        res = midas::ff::refine_grains(spots.view(), spots.grid(), hk, cfg, cspan(orient), cspan(pos_um),
                                       cspan(b_matrix), min_spots);
    }
    const std::size_t g = res.size();
    std::vector<std::uint8_t> ok(g);
    std::vector<double> o(9 * g), p(3 * g), b(9 * g), lat(6 * g), dpos(g), dome(g), dang(g), syz(g), some(g);
    std::vector<std::int32_t> nexp(g), nmat(g), iters(g), obs, row;
    std::vector<double> pred;
    std::vector<std::int64_t> offsets(g + 1, 0);
    for (std::size_t i = 0; i < g; ++i) {
        const auto& r = res[i];
        ok[i] = r.ok ? 1 : 0;
        for (int a = 0; a < 9; ++a) {
            o[9 * i + static_cast<std::size_t>(a)] = r.orient[a];
            b[9 * i + static_cast<std::size_t>(a)] = r.b_matrix[a];
        }
        for (int a = 0; a < 3; ++a) p[3 * i + static_cast<std::size_t>(a)] = r.pos_um[a];
        for (int a = 0; a < 6; ++a) lat[6 * i + static_cast<std::size_t>(a)] = r.lattice[a];
        nexp[i] = r.n_expected;
        nmat[i] = r.n_matched;
        iters[i] = r.iterations;
        dpos[i] = r.diff_pos_um;
        dome[i] = r.diff_ome_deg;
        dang[i] = r.diff_angle_deg;
        syz[i] = r.scale_yz_um;
        some[i] = r.scale_ome_deg;
        obs.insert(obs.end(), r.obs.begin(), r.obs.end());
        row.insert(row.end(), r.hkl_row.begin(), r.hkl_row.end());
        pred.insert(pred.end(), r.pred.begin(), r.pred.end());
        offsets[i + 1] = static_cast<std::int64_t>(obs.size());
    }
    const auto ng = static_cast<py::ssize_t>(g);
    const auto nm = static_cast<py::ssize_t>(obs.size());
    py::dict out;
    out["ok"] = to_numpy(std::move(ok), {ng});
    out["orient"] = to_numpy(std::move(o), {ng, 3, 3});
    out["pos_um"] = to_numpy(std::move(p), {ng, 3});
    out["b_matrix"] = to_numpy(std::move(b), {ng, 3, 3});
    out["lattice"] = to_numpy(std::move(lat), {ng, 6});
    out["n_expected"] = to_numpy(std::move(nexp), {ng});
    out["n_matched"] = to_numpy(std::move(nmat), {ng});
    out["iterations"] = to_numpy(std::move(iters), {ng});
    out["diff_pos_um"] = to_numpy(std::move(dpos), {ng});
    out["diff_ome_deg"] = to_numpy(std::move(dome), {ng});
    out["diff_angle_deg"] = to_numpy(std::move(dang), {ng});
    out["scale_yz_um"] = to_numpy(std::move(syz), {ng});
    out["scale_ome_deg"] = to_numpy(std::move(some), {ng});
    out["obs"] = to_numpy(std::move(obs), {nm});
    out["hkl_row"] = to_numpy(std::move(row), {nm});
    out["pred"] = to_numpy(std::move(pred), {nm, 3});
    out["offsets"] = to_numpy(std::move(offsets), {ng + 1});
    return out;
}

py::dict spot_model_batch(const carray<double>& g, const carray<double>& pos_um, const carray<double>& omega_rad,
                          double wavelength_A, double lsd_um, const std::string& displacement) {
    check_shape(g, "g", {-1, 3});
    const auto n = g.shape(0);
    check_shape(pos_um, "pos_um", {n, 3});
    check_shape(omega_rad, "omega_rad", {n});
    midas::ff::Displacement form;
    if (displacement == "parallel") {
        form = midas::ff::Displacement::parallel;
    } else if (displacement == "toward_point") {
        form = midas::ff::Displacement::toward_point;
    } else {
        throw midas::ParamError("displacement = '" + displacement + "', expected 'parallel' or 'toward_point'");
    }
    const auto un = static_cast<std::size_t>(n);
    std::vector<double> val(5 * un), dg(9 * un), dpos(9 * un);
    std::vector<std::uint8_t> ok(un);
    midas::ff::spot_models(cspan(g), cspan(pos_um), cspan(omega_rad), wavelength_A, lsd_um, form, ok, val, dg, dpos);
    py::dict out;
    out["ok"] = to_numpy(std::move(ok), {n});
    out["values"] = to_numpy(std::move(val), {n, 5});
    out["d_dg"] = to_numpy(std::move(dg), {n, 3, 3});
    out["d_dpos"] = to_numpy(std::move(dpos), {n, 3, 3});
    return out;
}

}  // namespace

void bind_ff_index(py::module_& m) {
    py::class_<SpotIndex, std::shared_ptr<SpotIndex>>(m, "FFSpotIndex", "Observed FF spots with their (ring, eta, omega) grid")
        .def(py::init<const carray<double>&, const carray<double>&, const carray<double>&, const carray<double>&,
                      const carray<double>&, const carray<std::int32_t>&, double, double>(),
             py::arg("y_um"), py::arg("z_um"), py::arg("omega_deg"), py::arg("eta_deg"), py::arg("grain_radius_um"),
             py::arg("ring_nr"), py::arg("eta_cell_deg"), py::arg("omega_cell_deg"))
        .def("__len__", &SpotIndex::size);
    m.def("ff_index_seeds", &index_seeds, "Index FF seed spots", py::arg("spots"), py::arg("g_crystal"),
          py::arg("ring_nr"), py::arg("ring_radius_um"), py::arg("ring_counts"), py::arg("rep_ring"),
          py::arg("rep_g_unit"), py::arg("rep_max_angle_deg"), py::arg("sym_quat"), py::arg("seeds"),
          py::arg("wavelength_A"), py::arg("lsd_um"), py::arg("rsample_um"), py::arg("hbeam_um"),
          py::arg("position_slack_um"), py::arg("step_pos_um"), py::arg("step_orient_deg"), py::arg("margin_eta_um"), py::arg("margin_ome_deg"),
          py::arg("margin_radial_um"), py::arg("margin_radius_um"), py::arg("completeness"), py::arg("min_eta_deg"),
          py::arg("use_friedel"), py::arg("friedel_fallback"), py::arg("max_solutions"), py::arg("coarse_steps"), py::arg("distinct_deg"),
          py::arg("omega_windows_deg"), py::arg("boxes_um"));
    m.def("ff_refine_grains", &refine, "Refine FF grains (LM)", py::arg("spots"), py::arg("hkl"), py::arg("ring_nr"),
          py::arg("ring_radius_um"), py::arg("ring_counts"), py::arg("orient"), py::arg("pos_um"),
          py::arg("b_matrix"), py::arg("wavelength_A"), py::arg("lsd_um"), py::arg("displacement"),
          py::arg("min_eta_deg"), py::arg("omega_windows_deg"), py::arg("boxes_um"), py::arg("margin_eta_um"),
          py::arg("margin_ome_deg"), py::arg("margin_radial_um"), py::arg("step_orient_deg"), py::arg("tol_factor"),
          py::arg("min_tol_yz_um"), py::arg("min_tol_ome_deg"), py::arg("sigma_yz_um"), py::arg("sigma_ome_deg"),
          py::arg("sigma_floor_yz_um"), py::arg("sigma_floor_ome_deg"), py::arg("n_passes"), py::arg("adapt_weights"),
          py::arg("huber_k"), py::arg("max_iter"),
          py::arg("rsample_um"), py::arg("hbeam_um"), py::arg("marg_abc_pct"), py::arg("marg_abg_pct"),
          py::arg("lattice_ref"), py::arg("fit_position"), py::arg("fit_orientation"), py::arg("fit_strain"),
          py::arg("min_spots"));
    m.def("ff_spot_model", &spot_model_batch, "FF spot model values and Jacobian (testing)", py::arg("g"),
          py::arg("pos_um"), py::arg("omega_rad"), py::arg("wavelength_A"), py::arg("lsd_um"),
          py::arg("displacement"));
}
