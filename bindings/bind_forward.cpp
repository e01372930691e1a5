// bindings/bind_forward.cpp — FF spot prediction and frame rendering (conversion only).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "midas/forward/ff_spots.hpp"
#include "midas/forward/render.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::mspan;
using midas::bind::to_numpy;

namespace {

midas::ff::Displacement parse_displacement(const std::string& s) {
    if (s == "toward_point") return midas::ff::Displacement::toward_point;
    if (s == "parallel") return midas::ff::Displacement::parallel;
    throw midas::ParamError("displacement = '" + s + "', expected 'toward_point' or 'parallel'");
}

midas::ff::WedgeModel parse_wedge(const std::string& s) {
    if (s == "upstream") return midas::ff::WedgeModel::upstream_sim;
    if (s == "exact") return midas::ff::WedgeModel::exact;
    throw midas::ParamError("wedge_model = '" + s + "', expected 'upstream' or 'exact'");
}

/// One field of every spot as a NumPy array that owns its memory.
template <class T>
py::array_t<T> column(const std::vector<midas::ff::FFSpot>& spots, T midas::ff::FFSpot::*field) {
    std::vector<T> v(spots.size());
    for (std::size_t i = 0; i < spots.size(); ++i) v[i] = spots[i].*field;
    return to_numpy(std::move(v), {static_cast<py::ssize_t>(spots.size())});
}

py::dict predict(const carray<double>& orient, const carray<double>& pos_um, const carray<double>& b_matrix,
                 const carray<double>& hkl, const carray<std::int32_t>& ring_nr, const carray<std::int32_t>& row_id,
                 double wavelength_A, double lsd_um, double min_eta_deg, double wedge_deg,
                 const std::string& wedge_model, const std::string& displacement, const carray<double>& omega_windows_deg,
                 const carray<double>& boxes_um) {
    check_shape(orient, "orient", {-1, 3, 3});
    const auto n_grains = orient.shape(0);
    check_shape(pos_um, "pos_um", {n_grains, 3});
    check_shape(b_matrix, "b_matrix", {n_grains, 3, 3});
    check_shape(hkl, "hkl", {-1, 3});
    check_shape(ring_nr, "ring_nr", {hkl.shape(0)});
    check_shape(row_id, "row_id", {hkl.shape(0)});
    check_shape(omega_windows_deg, "omega_windows_deg", {-1, 2});
    check_shape(boxes_um, "boxes_um", {omega_windows_deg.shape(0), 4});
    midas::ff::FFSpotInputs in{cspan(orient), cspan(pos_um), cspan(b_matrix), cspan(hkl), cspan(ring_nr), cspan(row_id)};
    midas::ff::FFSpotConfig cfg;
    cfg.wavelength_A = wavelength_A;
    cfg.lsd_um = lsd_um;
    cfg.min_eta_deg = min_eta_deg;
    cfg.wedge_deg = wedge_deg;
    cfg.wedge_model = parse_wedge(wedge_model);
    cfg.displacement = parse_displacement(displacement);
    cfg.omega_windows_deg = cspan(omega_windows_deg);
    cfg.boxes_um = cspan(boxes_um);
    std::vector<midas::ff::FFSpot> spots;
    {
        py::gil_scoped_release release;
        spots = midas::ff::predict_ff_spots(in, cfg);
    }
    py::dict out;
    out["grain_index"] = column(spots, &midas::ff::FFSpot::grain);
    out["hkl_row"] = column(spots, &midas::ff::FFSpot::row);
    out["omega_solution"] = column(spots, &midas::ff::FFSpot::solution);
    out["solution_nr"] = column(spots, &midas::ff::FFSpot::solution_nr);
    out["ring_nr"] = column(spots, &midas::ff::FFSpot::ring_nr);
    out["omega_deg"] = column(spots, &midas::ff::FFSpot::omega_deg);
    out["omega_raw_deg"] = column(spots, &midas::ff::FFSpot::omega_raw_deg);
    out["eta_deg"] = column(spots, &midas::ff::FFSpot::eta_deg);
    out["tth_deg"] = column(spots, &midas::ff::FFSpot::tth_deg);
    out["y0_um"] = column(spots, &midas::ff::FFSpot::y0_um);
    out["z0_um"] = column(spots, &midas::ff::FFSpot::z0_um);
    out["y_um"] = column(spots, &midas::ff::FFSpot::y_um);
    out["z_um"] = column(spots, &midas::ff::FFSpot::z_um);
    return out;
}

midas::ff::FrameContributions contributions(const carray<std::int64_t>& frame_offsets, const carray<double>& y_px,
                                            const carray<double>& z_px, const carray<double>& amplitude) {
    check_shape(frame_offsets, "frame_offsets", {-1});
    check_shape(y_px, "y_px", {-1});
    check_shape(z_px, "z_px", {y_px.shape(0)});
    check_shape(amplitude, "amplitude", {y_px.shape(0)});
    return {cspan(frame_offsets), cspan(y_px), cspan(z_px), cspan(amplitude)};
}

double max_value(const carray<std::int64_t>& frame_offsets, const carray<double>& y_px, const carray<double>& z_px,
                 const carray<double>& amplitude, std::int64_t n_y, std::int64_t n_z, double sigma_px) {
    const auto c = contributions(frame_offsets, y_px, z_px, amplitude);
    py::gil_scoped_release release;
    return midas::ff::max_pixel_value(c, {n_y, n_z, sigma_px});
}

py::array_t<double> render_f64(const carray<std::int64_t>& frame_offsets, const carray<double>& y_px,
                               const carray<double>& z_px, const carray<double>& amplitude, std::int64_t n_y,
                               std::int64_t n_z, double sigma_px, std::int64_t first_frame, std::int64_t n_out) {
    const auto c = contributions(frame_offsets, y_px, z_px, amplitude);
    if (n_out < 0 || n_y <= 0 || n_z <= 0)
        throw midas::ParamError("render_frames_f64: n_out, n_y, n_z = " + std::to_string(n_out) + ", " +
                                std::to_string(n_y) + ", " + std::to_string(n_z) + ", expected n_out >= 0 and positive sizes");
    carray<double> out({static_cast<py::ssize_t>(n_out), static_cast<py::ssize_t>(n_z), static_cast<py::ssize_t>(n_y)});
    auto o = mspan(out);
    py::gil_scoped_release release;
    midas::ff::render_frames_f64(c, {n_y, n_z, sigma_px}, first_frame, n_out, o);
    return out;
}

void render_i32(const carray<std::int64_t>& frame_offsets, const carray<double>& y_px, const carray<double>& z_px,
                const carray<double>& amplitude, std::int64_t n_y, std::int64_t n_z, double sigma_px,
                std::int64_t first_frame, double out_max, double peak_max, double noise_sigma, std::uint64_t seed,
                py::array_t<std::int32_t, py::array::c_style> out) {
    const auto c = contributions(frame_offsets, y_px, z_px, amplitude);
    if (out.ndim() != 3 || out.shape(1) != n_z || out.shape(2) != n_y)
        throw midas::ParamError("render_frames_i32: out must have shape (n_out, n_z, n_y) = (N, " + std::to_string(n_z) +
                                ", " + std::to_string(n_y) + ")");
    const std::int64_t n_out = out.shape(0);
    midas::span<std::int32_t> o(out.mutable_data(), static_cast<std::size_t>(out.size()));
    py::gil_scoped_release release;
    midas::ff::render_frames_i32(c, {n_y, n_z, sigma_px}, first_frame, n_out, {out_max, peak_max, noise_sigma, seed}, o);
}

}  // namespace

void bind_forward(py::module_& m) {
    m.def("ff_predict_spots", &predict, py::arg("orient"), py::arg("pos_um"), py::arg("b_matrix"), py::arg("hkl"),
          py::arg("ring_nr"), py::arg("row_id"), py::arg("wavelength_A"), py::arg("lsd_um"), py::arg("min_eta_deg"),
          py::arg("wedge_deg"), py::arg("wedge_model"), py::arg("displacement"), py::arg("omega_windows_deg"), py::arg("boxes_um"),
          "FF spot prediction for many grains: dict of (S,) arrays.");
    m.def("ff_max_pixel_value", &max_value, py::arg("frame_offsets"), py::arg("y_px"), py::arg("z_px"),
          py::arg("amplitude"), py::arg("n_y"), py::arg("n_z"), py::arg("sigma_px"),
          "Largest summed pixel value over all frames.");
    m.def("ff_render_frames_f64", &render_f64, py::arg("frame_offsets"), py::arg("y_px"), py::arg("z_px"),
          py::arg("amplitude"), py::arg("n_y"), py::arg("n_z"), py::arg("sigma_px"), py::arg("first_frame"),
          py::arg("n_out"), "Render frames as float64 sums: (n_out, n_z, n_y).");
    m.def("ff_render_frames_i32", &render_i32, py::arg("frame_offsets"), py::arg("y_px"), py::arg("z_px"),
          py::arg("amplitude"), py::arg("n_y"), py::arg("n_z"), py::arg("sigma_px"), py::arg("first_frame"),
          py::arg("out_max"), py::arg("peak_max"), py::arg("noise_sigma"), py::arg("seed"), py::arg("out"),
          "Render frames as scaled int32 into out (n_out, n_z, n_y).");
}
