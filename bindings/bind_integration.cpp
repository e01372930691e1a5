// bindings/bind_integration.cpp — radial integration: polygon ∩ annular-sector areas, the
// detector map (CSR) builder, sentinel-pixel search and cake → lineout reduction.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "midas/integration/detector_map.hpp"
#include "midas/integration/integrate.hpp"
#include "midas/integration/polygon_sector.hpp"
#include "numpy_span.hpp"

namespace py = pybind11;
using midas::bind::carray;
using midas::bind::check_shape;
using midas::bind::cspan;
using midas::bind::to_numpy;
namespace mi = midas::integration;

namespace {

py::array_t<double> polygon_sector_areas(const carray<double>& polygons, double r0_px, double r1_px,
                                         double eta0_deg, double eta1_deg) {
    check_shape(polygons, "polygons", {-1, -1, 2});
    const auto n_poly = polygons.shape(0);
    const auto n_vert = static_cast<int>(polygons.shape(1));
    if (n_vert < 3 || n_vert > mi::max_clip_vertices - 2)
        throw midas::ParamError("polygon_sector_areas: polygons need 3.." + std::to_string(mi::max_clip_vertices - 2) +
                                " vertices, got " + std::to_string(n_vert));
    py::array_t<double> out(n_poly);
    auto o = out.mutable_unchecked<1>();
    const auto* p = reinterpret_cast<const mi::Point2*>(polygons.data());
    for (py::ssize_t i = 0; i < n_poly; ++i)
        o(i) = mi::polygon_sector_area(p + i * n_vert, n_vert, r0_px, r1_px, eta0_deg, eta1_deg);
    return out;
}

py::array_t<double> polygon_disk_areas(const carray<double>& polygons, double r_px, bool off_origin) {
    check_shape(polygons, "polygons", {-1, -1, 2});
    const auto n_poly = polygons.shape(0);
    const auto n_vert = static_cast<int>(polygons.shape(1));
    if (n_vert < 3) throw midas::ParamError("polygon_disk_areas: polygons need at least 3 vertices");
    py::array_t<double> out(n_poly);
    auto o = out.mutable_unchecked<1>();
    const auto* p = reinterpret_cast<const mi::Point2*>(polygons.data());
    for (py::ssize_t i = 0; i < n_poly; ++i)
        o(i) = off_origin ? mi::polygon_disk_area_off_origin(p + i * n_vert, n_vert, r_px)
                          : mi::polygon_disk_area(p + i * n_vert, n_vert, r_px);
    return out;
}

template <class Real>
py::dict build_map(const carray<double>& corner_y_px, const carray<double>& corner_z_px,
                   const std::optional<carray<std::int32_t>>& raw_index,
                   const std::optional<carray<std::uint8_t>>& mask, const carray<double>& r_edges_px,
                   double eta_min_deg, double eta_bin_size_deg, std::int64_t n_eta, double lsd_px, bool solid_angle,
                   bool polarization, double polarization_fraction, int mask_policy, double fraction_quantum) {
    check_shape(corner_y_px, "corner_y_px", {-1, -1});
    check_shape(corner_z_px, "corner_z_px", {corner_y_px.shape(0), corner_y_px.shape(1)});
    check_shape(r_edges_px, "r_edges_px", {-1});
    if (mask_policy != 0 && mask_policy != 1)
        throw midas::ParamError("mask_policy must be 0 (flag bins) or 1 (exclude pixels), got " +
                                std::to_string(mask_policy));
    const std::int64_t n_z = corner_y_px.shape(0) - 1;
    const std::int64_t n_y = corner_y_px.shape(1) - 1;
    mi::BinGrid bins{cspan(r_edges_px), eta_min_deg, eta_bin_size_deg, n_eta};
    mi::MapSettings settings{lsd_px, solid_angle, polarization, polarization_fraction,
                             static_cast<mi::MaskPolicy>(mask_policy), fraction_quantum};
    mi::DetectorMap<Real> m;
    {
        py::gil_scoped_release release;
        m = mi::build_detector_map<Real>(cspan(corner_y_px), cspan(corner_z_px), n_y, n_z,
                                         raw_index ? cspan(*raw_index) : midas::span<const std::int32_t>(),
                                         mask ? cspan(*mask) : midas::span<const std::uint8_t>(), bins, settings);
    }
    const auto nnz = static_cast<py::ssize_t>(m.indices.size());
    const auto n_bins = static_cast<py::ssize_t>(m.bin_area.size());
    py::dict d;
    const bool shared_fractions = m.fractions.empty();
    d["indptr"] = to_numpy(std::move(m.indptr), {n_bins + 1});
    d["indices"] = to_numpy(std::move(m.indices), {nnz});
    d["weights"] = to_numpy(std::move(m.weights), {nnz});
    if (shared_fractions)
        d["fractions"] = d["weights"];
    else
        d["fractions"] = to_numpy(std::move(m.fractions), {nnz});
    d["bin_area"] = to_numpy(std::move(m.bin_area), {n_bins});
    d["bin_flagged"] = to_numpy(std::move(m.bin_flagged), {n_bins});
    d["n_degenerate"] = m.n_degenerate;
    return d;
}

py::tuple pixel_corners(const midas::geometry::FFDetector& det, std::int64_t n_y, std::int64_t n_z) {
    py::array_t<double> cy({n_z + 1, n_y + 1});
    py::array_t<double> cz({n_z + 1, n_y + 1});
    auto ys = midas::span<double>(cy.mutable_data(), static_cast<std::size_t>(cy.size()));
    auto zs = midas::span<double>(cz.mutable_data(), static_cast<std::size_t>(cz.size()));
    {
        py::gil_scoped_release release;
        mi::ff_pixel_corners(det, n_y, n_z, ys, zs);
    }
    return py::make_tuple(cy, cz);
}

template <class In>
void def_sentinels(py::module_& m) {
    m.def(
        "find_sentinel_pixels",
        [](const carray<In>& frame, const carray<double>& values, const std::optional<carray<std::uint8_t>>& skip) {
            std::vector<std::int64_t> found;
            {
                py::gil_scoped_release release;
                found = mi::find_sentinel_pixels<In>(cspan(frame), cspan(values),
                                                     skip ? cspan(*skip) : midas::span<const std::uint8_t>());
            }
            const auto n = static_cast<py::ssize_t>(found.size());
            return to_numpy(std::move(found), {n});
        },
        py::arg("frame"), py::arg("values"), py::arg("skip") = py::none(),
        "Flat indices of pixels equal to one of `values` and not skipped.");
}

}  // namespace

void bind_integration(py::module_& m) {
    m.def("polygon_sector_areas", &polygon_sector_areas, py::arg("polygons"), py::arg("r0_px"), py::arg("r1_px"),
          py::arg("eta0_deg"), py::arg("eta1_deg"), "Exact area of each polygon inside one annular sector.");
    m.def("polygon_disk_areas", &polygon_disk_areas, py::arg("polygons"), py::arg("r_px"), py::arg("off_origin"),
          "Area of each polygon inside the disk of radius r_px about the origin.");
    m.def("ff_pixel_corners", &pixel_corners, py::arg("det"), py::arg("n_y"), py::arg("n_z"),
          "(corner_y_px, corner_z_px), each (n_z + 1, n_y + 1): corrected corner coordinates in pixels.");
    m.def("build_detector_map_f32", &build_map<float>, py::arg("corner_y_px"), py::arg("corner_z_px"),
          py::arg("raw_index"), py::arg("mask"), py::arg("r_edges_px"), py::arg("eta_min_deg"),
          py::arg("eta_bin_size_deg"), py::arg("n_eta"), py::arg("lsd_px"), py::arg("solid_angle"),
          py::arg("polarization"), py::arg("polarization_fraction"), py::arg("mask_policy"),
          py::arg("fraction_quantum"), "Integration matrix with float32 weights (dict of arrays).");
    m.def("build_detector_map_f64", &build_map<double>, py::arg("corner_y_px"), py::arg("corner_z_px"),
          py::arg("raw_index"), py::arg("mask"), py::arg("r_edges_px"), py::arg("eta_min_deg"),
          py::arg("eta_bin_size_deg"), py::arg("n_eta"), py::arg("lsd_px"), py::arg("solid_angle"),
          py::arg("polarization"), py::arg("polarization_fraction"), py::arg("mask_policy"),
          py::arg("fraction_quantum"), "Integration matrix with float64 weights (dict of arrays).");
    def_sentinels<float>(m);
    def_sentinels<double>(m);
    def_sentinels<std::uint16_t>(m);
    def_sentinels<std::int32_t>(m);
    def_sentinels<std::uint32_t>(m);
    m.def(
        "lineout_from_cake",
        [](const carray<double>& cake, const carray<double>& area) {
            check_shape(cake, "cake", {-1, -1, -1});
            check_shape(area, "area", {cake.shape(1), cake.shape(2)});
            const auto n_frames = cake.shape(0), n_r = cake.shape(1), n_eta = cake.shape(2);
            py::array_t<double> out({n_frames, n_r});
            auto os = midas::span<double>(out.mutable_data(), static_cast<std::size_t>(out.size()));
            {
                py::gil_scoped_release release;
                mi::lineout_from_cake(cspan(cake), cspan(area), n_frames, n_r, n_eta, os);
            }
            return out;
        },
        py::arg("cake"), py::arg("area"), "Area-weighted mean over η of finite, unmasked bins.");
}
