// bindings/bind_ff_peaks.cpp — FF peak search: components, regional maxima, pseudo-Voigt fit,
// whole-frame search. Conversion only; the Python API is midas.ff.peaksearch.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "midas/ff/bitshuffle.hpp"
#include "midas/ff/components.hpp"
#include "midas/ff/peak_fit.hpp"
#include "midas/ff/peak_search.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::to_numpy;

namespace {

py::tuple label_components(const carray<std::int64_t>& linear_index, std::int64_t n_y, std::int64_t n_z) {
    check_shape(linear_index, "linear_index", {-1});
    midas::ff::Components c;
    {
        py::gil_scoped_release release;
        midas::ff::label_components(cspan(linear_index), n_y, n_z, c);
    }
    const auto n = static_cast<py::ssize_t>(c.region_of.size());
    const auto nr = static_cast<py::ssize_t>(c.region_start.size());
    return py::make_tuple(to_numpy(std::move(c.region_of), {n}), to_numpy(std::move(c.region_start), {nr}),
                          to_numpy(std::move(c.members), {n}),
                          to_numpy(std::move(c.neighbour), {n, midas::ff::n_neighbours}));
}

py::array_t<std::int32_t> regional_maxima(const carray<std::int32_t>& members, const carray<double>& value,
                                          const carray<std::int32_t>& neighbour) {
    check_shape(members, "members", {-1});
    check_shape(value, "value", {-1});
    check_shape(neighbour, "neighbour", {value.shape(0), midas::ff::n_neighbours});
    for (py::ssize_t i = 0; i < members.size(); ++i)
        if (members.data()[i] < 0 || members.data()[i] >= value.shape(0))
            throw midas::ParamError("members[" + std::to_string(i) + "] is outside [0, len(value))");
    std::vector<std::int32_t> out = midas::ff::regional_maxima(cspan(members), cspan(value), cspan(neighbour));
    const auto n = static_cast<py::ssize_t>(out.size());
    return to_numpy(std::move(out), {n});
}

py::tuple pv_model_jacobian(const carray<double>& params, const carray<double>& r_px, const carray<double>& eta_deg) {
    check_shape(params, "params", {-1});
    check_shape(r_px, "r_px", {-1});
    check_shape(eta_deg, "eta_deg", {r_px.shape(0)});
    const py::ssize_t m = params.shape(0);
    if (m < 9 || (m - 1) % 8 != 0) throw midas::ParamError("params must have 1 + 8·n_peaks entries");
    const int n_peaks = static_cast<int>((m - 1) / 8);
    const py::ssize_t n = r_px.shape(0);
    std::vector<double> model(static_cast<std::size_t>(n)), jac(static_cast<std::size_t>(n * m));
    const double* p = params.data();
    for (py::ssize_t i = 0; i < n; ++i) {
        model[static_cast<std::size_t>(i)] = midas::ff::pv_model(p, n_peaks, r_px.data()[i], eta_deg.data()[i]);
        double* jr = jac.data() + i * m;
        jr[0] = 1.0;
        for (int j = 0; j < n_peaks; ++j) {
            const double* q = p + 1 + 8 * j;
            double g[7];
            const double shape = midas::ff::pv_shape(q, r_px.data()[i] - q[1], eta_deg.data()[i] - q[2], g);
            jr[1 + 8 * j] = shape;
            for (int k = 0; k < 7; ++k) jr[1 + 8 * j + 1 + k] = q[0] * g[k];
        }
    }
    return py::make_tuple(to_numpy(std::move(model), {n}), to_numpy(std::move(jac), {n, m}));
}

midas::ff::LmOptions lm_options(int max_iterations, double ftol_rel, double xtol_rel, double gtol,
                                double centre_tol_px) {
    midas::ff::LmOptions o;
    o.max_iterations = max_iterations;
    o.ftol_rel = ftol_rel;
    o.xtol_rel = xtol_rel;
    o.gtol = gtol;
    o.centre_tol_px = centre_tol_px;
    return o;
}

py::tuple fit_pseudo_voigt(const carray<double>& r_px, const carray<double>& eta_deg, const carray<double>& value,
                           const carray<double>& start, const carray<double>& lower, const carray<double>& upper,
                           int max_iterations, double ftol_rel, double xtol_rel, double gtol, double centre_tol_px) {
    check_shape(r_px, "r_px", {-1});
    check_shape(eta_deg, "eta_deg", {r_px.shape(0)});
    check_shape(value, "value", {r_px.shape(0)});
    check_shape(start, "start", {-1});
    check_shape(lower, "lower", {start.shape(0)});
    check_shape(upper, "upper", {start.shape(0)});
    midas::ff::LmResult res;
    {
        py::gil_scoped_release release;
        res = midas::ff::fit_pseudo_voigt(cspan(r_px), cspan(eta_deg), cspan(value), cspan(start), cspan(lower),
                                          cspan(upper), lm_options(max_iterations, ftol_rel, xtol_rel, gtol, centre_tol_px));
    }
    const auto m = static_cast<py::ssize_t>(res.params.size());
    return py::make_tuple(to_numpy(std::move(res.params), {m}), res.cost, res.iterations, res.status);
}

midas::ff::PeakSearchSettings settings_from(double bc_y_px, double bc_z_px, double saturation,
                                            const std::vector<double>& bad_values, int min_nr_px, int max_nr_px,
                                            int max_n_peaks, bool do_peak_fit, int max_iterations, double ftol_rel,
                                            double xtol_rel, double gtol, double centre_tol_px) {
    midas::ff::PeakSearchSettings s;
    s.bc_y_px = bc_y_px;
    s.bc_z_px = bc_z_px;
    s.saturation = saturation;
    if (bad_values.size() > 2) throw midas::ParamError("at most two bad-pixel values (GapIntensity, BadPxIntensity)");
    s.n_bad_values = static_cast<int>(bad_values.size());
    for (std::size_t i = 0; i < bad_values.size(); ++i) s.bad_values[i] = bad_values[i];
    s.min_nr_px = min_nr_px;
    s.max_nr_px = max_nr_px;
    s.max_n_peaks = max_n_peaks;
    s.do_peak_fit = do_peak_fit;
    s.lm = lm_options(max_iterations, ftol_rel, xtol_rel, gtol, centre_tol_px);
    return s;
}

py::array_t<double> analyse_region(const carray<double>& y_px, const carray<double>& z_px, const carray<double>& value,
                                   const carray<std::int32_t>& maxima, double threshold, bool mask_touched,
                                   double bc_y_px, double bc_z_px, bool do_peak_fit, int max_iterations,
                                   double ftol_rel, double xtol_rel, double gtol, double centre_tol_px) {
    check_shape(y_px, "y_px", {-1});
    check_shape(z_px, "z_px", {y_px.shape(0)});
    check_shape(value, "value", {y_px.shape(0)});
    check_shape(maxima, "maxima", {-1});
    const auto s = settings_from(bc_y_px, bc_z_px, 0.0, {}, 0, 0, 0, do_peak_fit, max_iterations, ftol_rel, xtol_rel,
                                 gtol, centre_tol_px);
    std::vector<double> rows;
    {
        py::gil_scoped_release release;
        midas::ff::analyse_region(cspan(y_px), cspan(z_px), cspan(value), cspan(maxima), threshold, mask_touched, s,
                                  rows);
    }
    const auto n = static_cast<py::ssize_t>(rows.size() / midas::ff::ps_n_columns);
    return to_numpy(std::move(rows), {n, midas::ff::ps_n_columns});
}

template <class T>
std::vector<midas::ff::FramePeaks> run_frames(const py::array& frames, std::int64_t n_raw,
                                              const midas::ff::PixelPlan& plan,
                                              const midas::ff::PeakSearchSettings& s) {
    auto a = carray<T>::ensure(frames);
    if (!a) throw midas::ParamError("frames could not be read as a C-contiguous array");
    const std::int64_t n_frames = n_raw > 0 ? static_cast<std::int64_t>(a.size()) / n_raw : 0;
    py::gil_scoped_release release;
    return midas::ff::find_peaks_frames<T>(cspan(a), n_frames, plan, s);
}

py::list find_peaks(const py::array& frames, std::int64_t n_y, std::int64_t n_z,
                    const carray<std::int64_t>& dst_start, const carray<std::int64_t>& src_start,
                    const carray<std::int64_t>& src_stride, const carray<std::int32_t>& length,
                    const carray<std::int64_t>& offset, const carray<float>& threshold, const carray<float>& dark,
                    const carray<std::uint8_t>& pixel_class, const carray<float>& dark_map, std::int64_t src_origin,
                    std::int64_t src_step_y, std::int64_t src_step_z, bool grow, double bc_y_px, double bc_z_px,
                    double saturation,
                    const std::vector<double>& bad_values, int min_nr_px, int max_nr_px, int max_n_peaks,
                    bool do_peak_fit, int max_iterations, double ftol_rel, double xtol_rel, double gtol, double centre_tol_px) {
    if (frames.ndim() != 3) throw midas::ParamError("frames must be (n_frames, n_z_raw, n_y_raw)");
    check_shape(dst_start, "dst_start", {-1});
    check_shape(src_start, "src_start", {dst_start.shape(0)});
    check_shape(src_stride, "src_stride", {dst_start.shape(0)});
    check_shape(offset, "offset", {dst_start.shape(0)});
    check_shape(length, "length", {dst_start.shape(0)});
    check_shape(threshold, "threshold", {dst_start.shape(0)});
    check_shape(dark, "dark", {-1});
    check_shape(pixel_class, "pixel_class", {-1});
    check_shape(dark_map, "dark_map", {-1});
    midas::ff::PixelPlan plan;
    plan.n_y = n_y;
    plan.n_z = n_z;
    plan.n_raw = static_cast<std::int64_t>(frames.shape(1) * frames.shape(2));
    plan.dst_start = cspan(dst_start);
    plan.src_start = cspan(src_start);
    plan.src_stride = cspan(src_stride);
    plan.length = cspan(length);
    plan.offset = cspan(offset);
    plan.threshold = cspan(threshold);
    if (dark.size() != 0) plan.dark = cspan(dark);
    if (pixel_class.size() != 0) plan.pixel_class = cspan(pixel_class);
    if (dark_map.size() != 0) plan.dark_map = cspan(dark_map);
    plan.src_origin = src_origin;
    plan.src_step_y = src_step_y;
    plan.src_step_z = src_step_z;
    plan.grow = grow;
    const auto s = settings_from(bc_y_px, bc_z_px, saturation, bad_values, min_nr_px, max_nr_px, max_n_peaks,
                                 do_peak_fit, max_iterations, ftol_rel, xtol_rel, gtol, centre_tol_px);
    std::vector<midas::ff::FramePeaks> res;
    const auto dt = frames.dtype();
    const char kind = dt.kind();
    const auto size = dt.itemsize();
    if (kind == 'u' && size == 2) res = run_frames<std::uint16_t>(frames, plan.n_raw, plan, s);
    else if (kind == 'i' && size == 2) res = run_frames<std::int16_t>(frames, plan.n_raw, plan, s);
    else if (kind == 'u' && size == 4) res = run_frames<std::uint32_t>(frames, plan.n_raw, plan, s);
    else if (kind == 'i' && size == 4) res = run_frames<std::int32_t>(frames, plan.n_raw, plan, s);
    else if (kind == 'f' && size == 4) res = run_frames<float>(frames, plan.n_raw, plan, s);
    else if (kind == 'f' && size == 8) res = run_frames<double>(frames, plan.n_raw, plan, s);
    else
        throw midas::ParamError("frames dtype " + std::string(py::str(dt)) +
                                " is not supported (uint16, int16, uint32, int32, float32, float64)");
    py::list out;
    for (auto& fp : res) {
        const auto n = static_cast<py::ssize_t>(fp.n_peaks());
        const auto nr = static_cast<py::ssize_t>(fp.region_px_start.size());
        const auto npx = static_cast<py::ssize_t>(fp.region_px_yz.size() / 2);
        const auto& c = fp.counts;
        py::dict counts;
        counts["regions"] = c.regions;
        counts["too_small"] = c.too_small;
        counts["too_large"] = c.too_large;
        counts["saturated"] = c.saturated;
        counts["truncated"] = c.truncated;
        counts["kept_pixels"] = c.kept_pixels;
        counts["grown_pixels"] = c.grown_pixels;
        out.append(py::make_tuple(to_numpy(std::move(fp.rows), {n, midas::ff::ps_n_columns}),
                                  to_numpy(std::move(fp.region_of_peak), {n}),
                                  to_numpy(std::move(fp.region_px_start), {nr}),
                                  to_numpy(std::move(fp.region_px_yz), {npx, 2}), counts));
    }
    return out;
}

std::int64_t bit_unshuffle(const py::buffer& shuffled, std::size_t typesize, py::array_t<std::uint8_t>& out) {
    const py::buffer_info in = shuffled.request();
    if (in.ndim != 1 || in.itemsize != 1 || (in.size > 1 && in.strides[0] != 1))
        throw midas::ParamError("bit_unshuffle: shuffled must be a contiguous 1-D byte buffer");
    if (out.ndim() != 1 || (out.size() > 1 && out.strides(0) != 1) || !out.writeable())
        throw midas::ParamError("bit_unshuffle: out must be a writable contiguous 1-D uint8 array");
    const midas::span<const std::uint8_t> src(static_cast<const std::uint8_t*>(in.ptr),
                                              static_cast<std::size_t>(in.size));
    const midas::span<std::uint8_t> dst(out.mutable_data(), static_cast<std::size_t>(out.size()));
    py::gil_scoped_release release;
    return midas::ff::bit_unshuffle_block(src, typesize, dst);
}

}  // namespace

void bind_ff_peaks(py::module_& m) {
    m.def("ff_label_components", &label_components, py::arg("linear_index"), py::arg("n_y"), py::arg("n_z"),
          "8-connected components of a sorted sparse pixel set: (region_of, region_start, members, neighbour).");
    m.def("ff_regional_maxima", &regional_maxima, py::arg("members"), py::arg("value"), py::arg("neighbour"),
          "Regional maxima (pixel positions) of one region.");
    m.def("ff_pv_model_jacobian", &pv_model_jacobian, py::arg("params"), py::arg("r_px"), py::arg("eta_deg"),
          "Pseudo-Voigt sum and its analytic Jacobian: (model (N,), jac (N, m)).");
    m.def("ff_fit_pseudo_voigt", &fit_pseudo_voigt, py::arg("r_px"), py::arg("eta_deg"), py::arg("value"),
          py::arg("start"), py::arg("lower"), py::arg("upper"), py::arg("max_iterations") = 200,
          py::arg("ftol_rel") = 1e-10, py::arg("xtol_rel") = 1e-9, py::arg("gtol") = 1e-12, py::arg("centre_tol_px") = 0.0,
          "Bounded Levenberg–Marquardt pseudo-Voigt fit: (params, cost, iterations, status).");
    m.def("ff_analyse_region", &analyse_region, py::arg("y_px"), py::arg("z_px"), py::arg("value"), py::arg("maxima"),
          py::arg("threshold"), py::arg("mask_touched"), py::arg("bc_y_px"), py::arg("bc_z_px"),
          py::arg("do_peak_fit") = true, py::arg("max_iterations") = 200, py::arg("ftol_rel") = 1e-10,
          py::arg("xtol_rel") = 1e-9, py::arg("gtol") = 1e-12, py::arg("centre_tol_px") = 0.0, "Fit (or centroid) one region: (n_peaks, 29) rows.");
    m.def("ff_bit_unshuffle", &bit_unshuffle, py::arg("shuffled"), py::arg("typesize"), py::arg("out"),
          "Undo Blosc's bit shuffle of one block into out; returns the number of non-zero bytes.");
    m.def("ff_find_peaks", &find_peaks, py::arg("frames"), py::arg("n_y"), py::arg("n_z"), py::arg("dst_start"),
          py::arg("src_start"), py::arg("src_stride"), py::arg("length"), py::arg("offset"), py::arg("threshold"),
          py::arg("dark"), py::arg("pixel_class"), py::arg("dark_map"), py::arg("src_origin"), py::arg("src_step_y"),
          py::arg("src_step_z"), py::arg("grow"), py::arg("bc_y_px"),
          py::arg("bc_z_px"), py::arg("saturation"), py::arg("bad_values"), py::arg("min_nr_px"),
          py::arg("max_nr_px"), py::arg("max_n_peaks"), py::arg("do_peak_fit"), py::arg("max_iterations") = 200,
          py::arg("ftol_rel") = 1e-10, py::arg("xtol_rel") = 1e-9, py::arg("gtol") = 1e-12, py::arg("centre_tol_px") = 0.0,
          "Peak search of a batch of frames, OpenMP over frames: list of per-frame tuples.");
}
