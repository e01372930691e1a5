// bindings/bind_nf.cpp — NF-HEDM kernels: experiment, spots, overlap, simulation, fitting,
// geometry refinement, SpotsInfo bits and image reduction. Conversion only; the Python API with
// docstrings is midas.nf.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/nf/bit_table.hpp"
#include "midas/nf/experiment.hpp"
#include "midas/nf/fit_orientation.hpp"
#include "midas/nf/image_processing.hpp"
#include "midas/nf/overlap.hpp"
#include "midas/nf/spots_info.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::to_numpy;
namespace nf = midas::nf;

namespace {

using Layout = std::tuple<std::int32_t, std::int32_t, std::int32_t, std::int32_t>;

nf::BitLayout to_layout(const Layout& l) {
    return nf::BitLayout{std::get<0>(l), std::get<1>(l), std::get<2>(l), std::get<3>(l)};
}

/// A uint32 word array used in place (a numpy.memmap or ndarray): no silent copies.
template <bool Writable>
using word_ptr = std::conditional_t<Writable, std::uint32_t*, const std::uint32_t*>;

template <bool Writable>
std::pair<word_ptr<Writable>, std::size_t> words_of(const py::array& a, const nf::BitLayout& layout) {
    if (!py::isinstance<py::array_t<std::uint32_t>>(a) || a.dtype().kind() != 'u' || a.itemsize() != 4)
        throw midas::ParamError("SpotsInfo words must be a numpy uint32 array (got dtype " +
                                std::string(py::str(a.dtype())) + ")");
    if (!(a.flags() & py::array::c_style)) throw midas::ParamError("SpotsInfo words must be C-contiguous");
    if (Writable && !a.writeable()) throw midas::ParamError("SpotsInfo words are read-only; open the file for writing");
    nf::check_layout(layout, static_cast<std::uint64_t>(a.size()));
    auto* p = static_cast<word_ptr<Writable>>(const_cast<void*>(a.data()));
    return {p, static_cast<std::size_t>(a.size())};
}

std::vector<nf::Triangle> to_triangles(const carray<double>& tri) {
    check_shape(tri, "triangles", {-1, 7});
    std::vector<nf::Triangle> out(static_cast<std::size_t>(tri.shape(0)));
    auto t = tri.unchecked<2>();
    for (py::ssize_t i = 0; i < tri.shape(0); ++i) {
        auto& o = out[static_cast<std::size_t>(i)];
        for (int k = 0; k < 3; ++k) {
            o.x_um[k] = t(i, k);
            o.y_um[k] = t(i, 3 + k);
        }
        o.half_edge_um = t(i, 6);
    }
    return out;
}

nf::Experiment make_exp(const carray<double>& lsd, const carray<double>& bc, double tx, double ty, double tz, double px,
                        std::int32_t n_y, std::int32_t n_z, double ostart, double ostep, std::int32_t n_frames,
                        const carray<double>& ranges, const carray<double>& boxes, double min_eta, double wedge) {
    check_shape(lsd, "lsd_um", {-1});
    check_shape(bc, "bc_px", {lsd.shape(0), 2});
    check_shape(ranges, "omega_ranges_deg", {-1, 2});
    check_shape(boxes, "box_um", {ranges.shape(0), 4});
    nf::ExperimentSpec s;
    s.lsd_um.assign(lsd.data(), lsd.data() + lsd.size());
    for (py::ssize_t l = 0; l < lsd.shape(0); ++l) {
        s.ybc_px.push_back(bc.at(l, 0));
        s.zbc_px.push_back(bc.at(l, 1));
    }
    s.tx_deg = tx;
    s.ty_deg = ty;
    s.tz_deg = tz;
    s.px_um = px;
    s.n_y = n_y;
    s.n_z = n_z;
    s.omega_start_deg = ostart;
    s.omega_step_deg = ostep;
    s.n_frames = n_frames;
    s.omega_ranges_deg.assign(ranges.data(), ranges.data() + ranges.size());
    s.box_um.assign(boxes.data(), boxes.data() + boxes.size());
    s.min_eta_deg = min_eta;
    s.wedge_deg = wedge;
    return nf::make_experiment(s);
}

nf::HklSet make_h(const carray<double>& g, const carray<double>& theta) {
    check_shape(g, "g_crystal", {-1, 3});
    check_shape(theta, "theta_deg", {g.shape(0)});
    return nf::make_hkls(cspan(g), cspan(theta));
}

py::tuple compute_spots(const nf::Experiment& e, const nf::HklSet& h, const carray<double>& om) {
    check_shape(om, "orient_mats", {-1, 3, 3});
    const auto ns = static_cast<std::int64_t>(om.shape(0));
    std::vector<std::vector<double>> per(static_cast<std::size_t>(ns));
    const double* u = om.data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for schedule(dynamic, 16)
        for (std::int64_t i = 0; i < ns; ++i) {
            auto& v = per[static_cast<std::size_t>(i)];
            v.resize(nf::spot_stride * nf::compute_spots(e, h, u + 9 * i, v));
        }
    }
    constexpr std::size_t st = nf::spot_stride;
    std::vector<std::int32_t> key(static_cast<std::size_t>(2 * ns));
    std::size_t total = 0;
    for (std::size_t i = 0; i < per.size(); ++i) {
        key[2 * i] = static_cast<std::int32_t>(per[i].size() / st);
        key[2 * i + 1] = static_cast<std::int32_t>(total);
        total += per[i].size() / st;
    }
    std::vector<double> spots;  // DiffractionSpots rows (y0, z0, ω)
    spots.reserve(3 * total);
    for (const auto& p : per)
        for (std::size_t j = 0; j < p.size() / st; ++j) spots.insert(spots.end(), {p[st * j], p[st * j + 1], p[st * j + 2]});
    const auto nt = static_cast<py::ssize_t>(total);
    return py::make_tuple(to_numpy(std::move(spots), {nt, 3}), to_numpy(std::move(key), {static_cast<py::ssize_t>(ns), 2}));
}

py::tuple overlap_counts(const nf::Experiment& e, const nf::HklSet& h, const carray<double>& tri,
                         const carray<double>& om, const py::array& words, const Layout& lay) {
    const auto layout = to_layout(lay);
    nf::check_layout_matches(e, layout);
    const auto w = words_of<false>(words, layout);
    const auto tris = to_triangles(tri);
    check_shape(om, "orient_mats", {static_cast<py::ssize_t>(tris.size()), 3, 3});
    const auto n = static_cast<std::int64_t>(tris.size());
    std::vector<std::int64_t> ov(tris.size()), tot(tris.size());
    const double* u = om.data();
    {
        py::gil_scoped_release release;
#pragma omp parallel
        {
            nf::Workspace ws;
#pragma omp for schedule(dynamic, 4)
            for (std::int64_t i = 0; i < n; ++i) {
                const auto c =
                    nf::orientation_overlap(e, h, tris[static_cast<std::size_t>(i)], u + 9 * i, nf::DenseBits{w.first}, layout, ws);
                ov[static_cast<std::size_t>(i)] = c.overlap;
                tot[static_cast<std::size_t>(i)] = c.total;
            }
        }
    }
    const auto nn = static_cast<py::ssize_t>(n);
    return py::make_tuple(to_numpy(std::move(ov), {nn}), to_numpy(std::move(tot), {nn}));
}

py::array_t<std::int32_t> simulate_hits(const nf::Experiment& e, const nf::HklSet& h, const carray<double>& tri,
                                        const carray<double>& om) {
    const auto tris = to_triangles(tri);
    check_shape(om, "orient_mats", {static_cast<py::ssize_t>(tris.size()), 3, 3});
    std::vector<std::int32_t> out;
    {
        py::gil_scoped_release release;
        nf::Workspace ws;
        for (std::size_t i = 0; i < tris.size(); ++i) {
            const std::size_t n = nf::compute_spots(e, h, om.data() + 9 * i, ws.spots);
            nf::for_each_hit<nf::spot_stride>(e, tris[i], midas::span<const double>(ws.spots.data(), nf::spot_stride * n), ws,
                             [&](std::int32_t l, std::int32_t f, std::int32_t y, std::int32_t z) {
                                 out.insert(out.end(), {l, f, y, z});
                             });
        }
    }
    const auto n = static_cast<py::ssize_t>(out.size() / 4);
    return to_numpy(std::move(out), {n, 4});
}

std::int64_t simulate_bits(const nf::Experiment& e, const nf::HklSet& h, const carray<double>& tri,
                           const carray<double>& om, py::array& words, const Layout& lay) {
    const auto layout = to_layout(lay);
    const auto w = words_of<true>(words, layout);
    const auto tris = to_triangles(tri);
    check_shape(om, "orient_mats", {static_cast<py::ssize_t>(tris.size()), 3, 3});
    py::gil_scoped_release release;
    return nf::simulate_bits(e, h, midas::span<const nf::Triangle>(tris.data(), tris.size()), cspan(om),
                             midas::span<std::uint32_t>(w.first, w.second), layout);
}

void fit_grid(const nf::Experiment& e, const nf::HklSet& h, const carray<double>& seed_om,
              const carray<std::int32_t>& key, const carray<double>& spots, const carray<double>& grid,
              std::int64_t row_begin, std::int64_t row_end, const nf::BitTable& bits, const carray<double>& sym,
              double min_frac_accept, double orient_tol_deg, std::int32_t save_n, double min_miso_deg,
              std::int32_t max_eval, double search_step_deg, bool polish, double polish_min_frac, double soft_step_deg,
              double polish_step_deg, std::int32_t centre_sweeps, double plateau_tol_deg, py::array_t<double> mic,
              py::array_t<double> all_matches, py::array_t<std::int32_t> n_evals) {
    check_shape(seed_om, "seed_orient_mats", {-1, 3, 3});
    check_shape(key, "key", {seed_om.shape(0), 2});
    check_shape(spots, "spots", {-1, 3});
    check_shape(grid, "grid", {-1, 5});
    check_shape(sym, "symmetry", {-1, 3, 3});
    for (const py::array* a : {static_cast<const py::array*>(&mic), static_cast<const py::array*>(&all_matches),
                               static_cast<const py::array*>(&n_evals)})
        if (!(a->flags() & py::array::c_style) || !a->writeable())
            throw midas::ParamError("fit_grid: output arrays must be writable C-contiguous arrays");
    nf::FitSettings s;
    s.min_frac_accept = min_frac_accept;
    s.orient_tol_rad = orient_tol_deg * nf::deg;
    s.save_n = save_n;
    s.min_miso_rad = min_miso_deg * nf::deg;
    s.max_eval = max_eval;
    s.search_step_rad = search_step_deg * nf::deg;
    s.polish = polish;
    s.polish_min_frac = polish_min_frac;
    s.soft_step_rad = soft_step_deg * nf::deg;
    s.polish_step_rad = polish_step_deg * nf::deg;
    s.centre_sweeps = centre_sweeps;
    s.plateau_tol_rad = plateau_tol_deg * nf::deg;
    nf::SeedTable seeds{cspan(seed_om), cspan(key), cspan(spots)};
    py::gil_scoped_release release;
    nf::fit_grid(e, h, seeds, cspan(grid), row_begin, row_end, bits, cspan(sym), s,
                 midas::span<double>(mic.mutable_data(), static_cast<std::size_t>(mic.size())),
                 midas::span<double>(all_matches.mutable_data(), static_cast<std::size_t>(all_matches.size())),
                 midas::span<std::int32_t>(n_evals.mutable_data(), static_cast<std::size_t>(n_evals.size())));
}

py::dict refine_geometry(const nf::Experiment& e, const carray<double>& g, const carray<double>& theta,
                         const carray<double>& tri, const carray<double>& euler, const py::array& words,
                         const Layout& lay, double lsd_tol, double lsd_rel_tol, double bc_y_tol, double bc_z_tol,
                         double tilt_tol, double orient_tol, std::int32_t iterations, std::int32_t max_eval) {
    const auto layout = to_layout(lay);
    const auto w = words_of<false>(words, layout);
    const auto tris = to_triangles(tri);
    check_shape(euler, "euler_rad", {static_cast<py::ssize_t>(tris.size()), 3});
    check_shape(g, "g_crystal", {-1, 3});
    check_shape(theta, "theta_deg", {g.shape(0)});
    nf::GeometryTolerances t{lsd_tol, lsd_rel_tol, bc_y_tol, bc_z_tol, tilt_tol, orient_tol, iterations, max_eval};
    nf::GeometryFit r;
    {
        py::gil_scoped_release release;
        r = nf::refine_geometry(e.spec, cspan(g), cspan(theta), midas::span<const nf::Triangle>(tris.data(), tris.size()),
                                cspan(euler), w.first, layout, t);
    }
    py::dict d;
    d["lsd_um"] = r.spec.lsd_um;
    d["ybc_px"] = r.spec.ybc_px;
    d["zbc_px"] = r.spec.zbc_px;
    d["tilts_deg"] = std::vector<double>{r.spec.tx_deg, r.spec.ty_deg, r.spec.tz_deg};
    const auto k = static_cast<py::ssize_t>(tris.size());
    d["euler_rad"] = to_numpy(std::move(r.euler_rad), {k, 3});
    d["fractions"] = to_numpy(std::move(r.fractions), {k});
    d["mean_fraction_start"] = r.mean_fraction_start;
    d["mean_fraction"] = r.mean_fraction;
    d["n_evals"] = r.n_evals;
    return d;
}

}  // namespace

void bind_nf(py::module_& m) {
    py::class_<nf::Experiment>(m, "NfExperiment", "Validated NF experiment (see midas.nf.NFExperiment).")
        .def(py::init(&make_exp), py::arg("lsd_um"), py::arg("bc_px"), py::arg("tx_deg"), py::arg("ty_deg"),
             py::arg("tz_deg"), py::arg("px_um"), py::arg("n_y"), py::arg("n_z"), py::arg("omega_start_deg"),
             py::arg("omega_step_deg"), py::arg("n_frames"), py::arg("omega_ranges_deg"), py::arg("box_um"),
             py::arg("min_eta_deg"), py::arg("wedge_deg") = 0.0)
        .def_property_readonly("n_layers", [](const nf::Experiment& e) { return e.n_layers; });
    py::class_<nf::HklSet>(m, "NfHkls", "Reflections of the NF forward model.")
        .def(py::init(&make_h), py::arg("g_crystal"), py::arg("theta_deg"))
        .def("__len__", &nf::HklSet::size);

    py::class_<nf::BitTable>(m, "NfBitTable", "Hash table of the non-zero words of a SpotsInfo bitmask.")
        .def(py::init([](const py::array& words, const Layout& lay) {
                 const auto layout = to_layout(lay);
                 const auto w = words_of<false>(words, layout);
                 py::gil_scoped_release release;
                 return nf::make_bit_table(midas::span<const std::uint32_t>(w.first, w.second), layout);
             }),
             py::arg("words"), py::arg("layout"))
        .def_property_readonly("n_words_set", [](const nf::BitTable& t) { return t.n_words_set; })
        .def("word", [](const nf::BitTable& t, std::uint64_t wi) { return t.word(wi); }, py::arg("word_index"));

    m.def("nf_compute_spots", &compute_spots, py::arg("experiment"), py::arg("hkls"), py::arg("orient_mats"),
          "Spots (T, 3) (y0_um, z0_um, omega_deg) and Key (S, 2) of S orientations.");
    m.def("nf_overlap_counts", &overlap_counts, py::arg("experiment"), py::arg("hkls"), py::arg("triangles"),
          py::arg("orient_mats"), py::arg("words"), py::arg("layout"),
          "(overlap, total) footprint pixel counts of voxel i with orientation i.");
    m.def("nf_simulate_hits", &simulate_hits, py::arg("experiment"), py::arg("hkls"), py::arg("triangles"),
          py::arg("orient_mats"), "Detector hits (N, 4) (layer, frame, y, z), with repeats, in voxel order.");
    m.def("nf_simulate_bits", &simulate_bits, py::arg("experiment"), py::arg("hkls"), py::arg("triangles"),
          py::arg("orient_mats"), py::arg("words"), py::arg("layout"), "Set the bits of every voxel's hits in place.");
    m.def("nf_fit_grid", &fit_grid, py::arg("experiment"), py::arg("hkls"), py::arg("seed_orient_mats"), py::arg("key"),
          py::arg("spots"), py::arg("grid"), py::arg("row_begin"), py::arg("row_end"), py::arg("bits"), py::arg("symmetry"), py::arg("min_frac_accept"), py::arg("orient_tol_deg"), py::arg("save_n"),
          py::arg("min_miso_deg"), py::arg("max_eval"), py::arg("search_step_deg"), py::arg("polish"), py::arg("polish_min_frac"),
          py::arg("soft_step_deg"), py::arg("polish_step_deg"), py::arg("centre_sweeps"), py::arg("plateau_tol_deg"),
          py::arg("mic"), py::arg("all_matches"), py::arg("n_evals"), "Fit grid rows in place.");
    m.def("nf_refine_geometry", &refine_geometry, py::arg("experiment"), py::arg("g_crystal"), py::arg("theta_deg"),
          py::arg("triangles"), py::arg("euler_rad"), py::arg("words"), py::arg("layout"), py::arg("lsd_tol_um"),
          py::arg("lsd_rel_tol_um"), py::arg("bc_y_tol_px"), py::arg("bc_z_tol_px"), py::arg("tilt_tol_deg"),
          py::arg("orient_tol_deg"), py::arg("iterations"), py::arg("max_eval"), "Refine NF geometry on voxels.");
    m.def(
        "nf_raster_triangle",
        [](const carray<double>& off) {
            check_shape(off, "offsets_px", {3, 2});
            double o[3][2];
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 2; ++j) o[i][j] = off.at(i, j);
            std::vector<std::int32_t> out;
            nf::raster_triangle(o, out);
            const auto n = static_cast<py::ssize_t>(out.size() / 2);
            return to_numpy(std::move(out), {n, 2});
        },
        py::arg("offsets_px"), "Pixel offsets (K, 2) covered by a triangle of vertex offsets (3, 2).");
    m.def(
        "nf_misorientation_rad",
        [](const carray<double>& a, const carray<double>& b, const carray<double>& sym) {
            check_shape(a, "a", {3, 3});
            check_shape(b, "b", {3, 3});
            check_shape(sym, "symmetry", {-1, 3, 3});
            return nf::misorientation_rad(a.data(), b.data(), nf::symmetry_quats(cspan(sym)));
        },
        py::arg("a"), py::arg("b"), py::arg("symmetry"), "Misorientation (rad) of two orientation matrices.");

    m.def(
        "nf_set_bits",
        [](py::array& words, const Layout& lay, const carray<std::int32_t>& coords) {
            check_shape(coords, "coords", {-1, 4});
            const auto layout = to_layout(lay);
            const auto w = words_of<true>(words, layout);
            nf::set_bits(midas::span<std::uint32_t>(w.first, w.second), layout, cspan(coords));
        },
        py::arg("words"), py::arg("layout"), py::arg("coords"), "Set bits at rows (layer, frame, y, z).");
    m.def(
        "nf_count_bits",
        [](const py::array& words, const Layout& lay) {
            const auto layout = to_layout(lay);
            const auto w = words_of<false>(words, layout);
            py::gil_scoped_release release;
            return nf::count_set_bits(midas::span<const std::uint32_t>(w.first, w.second), layout);
        },
        py::arg("words"), py::arg("layout"), "Number of set bits.");
    m.def(
        "nf_list_bits",
        [](const py::array& words, const Layout& lay) {
            const auto layout = to_layout(lay);
            const auto w = words_of<false>(words, layout);
            std::vector<std::int32_t> out;
            {
                py::gil_scoped_release release;
                out = nf::list_set_bits(midas::span<const std::uint32_t>(w.first, w.second), layout);
            }
            const auto n = static_cast<py::ssize_t>(out.size() / 4);
            return to_numpy(std::move(out), {n, 4});
        },
        py::arg("words"), py::arg("layout"), "Coordinates (N, 4) of set bits in bit order.");

    py::class_<nf::StreamingMedian>(m, "NfStreamingMedian", "Exact streaming per-pixel temporal median.")
        .def(py::init<std::int64_t, std::int64_t, std::uint64_t>(), py::arg("n_pixels"), py::arg("n_frames"),
             py::arg("collect_budget_bytes") = 256ull << 20)
        .def_property_readonly("done", &nf::StreamingMedian::done)
        .def_property_readonly("passes_done", &nf::StreamingMedian::passes_done)
        .def_property_readonly("memory_bytes", &nf::StreamingMedian::memory_bytes)
        .def(
            "add_frame",
            [](nf::StreamingMedian& self, const carray<std::uint16_t>& f) {
                const auto s = cspan(f);
                py::gil_scoped_release release;
                self.add_frame(s);
            },
            py::arg("frame"))
        .def("finish_pass", [](nf::StreamingMedian& self) {
            py::gil_scoped_release release;
            self.finish_pass();
        })
        .def("median", [](const nf::StreamingMedian& self) {
            auto v = self.median();
            const auto n = static_cast<py::ssize_t>(v.size());
            return to_numpy(std::move(v), {n});
        });
    m.def(
        "nf_median_filter",
        [](const carray<std::uint16_t>& img, std::int32_t radius) {
            check_shape(img, "image", {-1, -1});
            py::array_t<std::uint16_t> out({img.shape(0), img.shape(1)});
            {
                const auto in = cspan(img);
                midas::span<std::uint16_t> o(out.mutable_data(), static_cast<std::size_t>(out.size()));
                py::gil_scoped_release release;
                nf::median_filter(in, static_cast<std::int32_t>(img.shape(0)), static_cast<std::int32_t>(img.shape(1)),
                                  radius, o);
            }
            return out;
        },
        py::arg("image"), py::arg("radius"), "Spatial median filter, border copied.");
    m.def(
        "nf_log_blob_mask",
        [](const carray<std::uint16_t>& img, std::int32_t radius, double sigma) {
            check_shape(img, "image", {-1, -1});
            py::array_t<std::uint8_t> out({img.shape(0), img.shape(1)});
            {
                const auto in = cspan(img);
                midas::span<std::uint8_t> o(out.mutable_data(), static_cast<std::size_t>(out.size()));
                py::gil_scoped_release release;
                nf::log_blob_mask(in, static_cast<std::int32_t>(img.shape(0)), static_cast<std::int32_t>(img.shape(1)),
                                  radius, sigma, o);
            }
            return out;
        },
        py::arg("image"), py::arg("radius"), py::arg("sigma"), "LoG blob mask (uint8).");
    py::class_<nf::FrameReducer>(m, "NfFrameReducer", "Reduces frames of one distance into SpotsInfo bits.")
        .def(py::init([](std::int32_t n_rows, std::int32_t n_cols, std::int32_t blanket, std::int32_t median_radius,
                         bool do_log, std::int32_t log_radius, double log_sigma) {
                 return nf::FrameReducer(n_rows, n_cols,
                                         nf::ReduceSettings{blanket, median_radius, do_log, log_radius, log_sigma});
             }),
             py::arg("n_rows"), py::arg("n_cols"), py::arg("blanket"), py::arg("median_radius"), py::arg("do_log"),
             py::arg("log_radius"), py::arg("log_sigma"))
        .def(
            "reduce",
            [](nf::FrameReducer& self, const carray<std::uint16_t>& raw, const carray<std::uint16_t>& median,
               py::array& words, const Layout& lay, std::int32_t layer, std::int32_t frame, bool want_image) {
                check_shape(raw, "frame", {-1, -1});
                check_shape(median, "median", {raw.shape(0), raw.shape(1)});
                const auto layout = to_layout(lay);
                const auto w = words_of<true>(words, layout);
                py::array_t<std::uint16_t> img(want_image ? std::vector<py::ssize_t>{raw.shape(0), raw.shape(1)}
                                                          : std::vector<py::ssize_t>{0});
                std::int64_t n = 0;
                {
                    const auto rs = cspan(raw);
                    const auto ms = cspan(median);
                    midas::span<std::uint16_t> o(img.mutable_data(), static_cast<std::size_t>(img.size()));
                    py::gil_scoped_release release;
                    n = self.reduce(rs, ms, w.first, layout, layer, frame, o);
                }
                return py::make_tuple(n, img);
            },
            py::arg("frame"), py::arg("median"), py::arg("words"), py::arg("layout"), py::arg("layer"),
            py::arg("frame_nr"), py::arg("want_image") = false,
            "Reduce one raw frame and set its SpotsInfo bits: (n spot pixels, filtered image or empty).");
}
