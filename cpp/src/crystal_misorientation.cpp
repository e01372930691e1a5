#include <cstdint>
#include <string>
#include <vector>

#include "midas/core/error.hpp"
#include "midas/crystal/misorientation.hpp"

namespace midas::crystallography {

namespace {

std::vector<Quat> to_quats(span<const double> sym_quat) {
    if (sym_quat.size() % 4 != 0 || sym_quat.empty())
        throw ParamError("misorientation: symmetry quaternions must be a non-empty (M, 4) array, got " +
                         std::to_string(sym_quat.size()) + " values");
    std::vector<Quat> s(sym_quat.size() / 4);
    for (std::size_t k = 0; k < s.size(); ++k)
        s[k] = Quat{sym_quat[4 * k], sym_quat[4 * k + 1], sym_quat[4 * k + 2], sym_quat[4 * k + 3]};
    return s;
}

std::vector<Quat> matrices_to_quats(span<const double> om, std::size_t n, const char* name) {
    if (om.size() != 9 * n)
        throw ParamError(std::string("misorientation: ") + name + " has " + std::to_string(om.size()) +
                         " values, expected 9 × " + std::to_string(n));
    std::vector<Quat> q(n);
    const double* p = om.data();
    const auto nn = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < nn; ++i) q[static_cast<std::size_t>(i)] = quat_from_matrix(p + 9 * i);
    return q;
}

/// Orientations and symmetry operators as quaternions, validated.
struct QuatInputs {
    std::vector<Quat> sym, a, b;
};

QuatInputs prepare(span<const double> om_a, std::size_t n_a, span<const double> om_b, std::size_t n_b,
                   span<const double> sym_quat) {
    return QuatInputs{to_quats(sym_quat), matrices_to_quats(om_a, n_a, "om_a"), matrices_to_quats(om_b, n_b, "om_b")};
}

}  // namespace

void misorientation_pairs(span<const double> om_a, std::size_t n_a, span<const double> om_b, std::size_t n_b,
                          span<const double> sym_quat, span<double> angle_rad, span<double> axis) {
    const std::size_t n = n_a > n_b ? n_a : n_b;
    if ((n_a != n && n_a != 1) || (n_b != n && n_b != 1))
        throw ParamError("misorientation: " + std::to_string(n_a) + " and " + std::to_string(n_b) +
                         " orientations cannot be paired (expected equal counts or one)");
    if (angle_rad.size() != n)
        throw ParamError("misorientation: output has " + std::to_string(angle_rad.size()) + " slots, expected " +
                         std::to_string(n));
    if (!axis.empty() && axis.size() != 3 * n)
        throw ParamError("misorientation: axis output has " + std::to_string(axis.size()) + " slots, expected " +
                         std::to_string(3 * n));
    const QuatInputs in = prepare(om_a, n_a, om_b, n_b, sym_quat);
    double* ax = axis.empty() ? nullptr : axis.data();
    const bool one_a = n_a == 1, one_b = n_b == 1;
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
        const auto u = static_cast<std::size_t>(i);
        angle_rad[u] = misorientation_one(in.a[one_a ? 0 : u], in.b[one_b ? 0 : u], in.sym.data(),
                                          static_cast<int>(in.sym.size()), ax == nullptr ? nullptr : ax + 3 * u);
    }
}

void misorientation_all_pairs(span<const double> om_a, std::size_t n_a, span<const double> om_b, std::size_t n_b,
                              span<const double> sym_quat, span<double> angle_rad) {
    if (angle_rad.size() != n_a * n_b)
        throw ParamError("misorientation_all_pairs: output has " + std::to_string(angle_rad.size()) +
                         " slots, expected " + std::to_string(n_a) + " × " + std::to_string(n_b));
    const QuatInputs in = prepare(om_a, n_a, om_b, n_b, sym_quat);
    const int n_sym = static_cast<int>(in.sym.size());
#pragma omp parallel for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(n_a); ++i) {
        const Quat a = in.a[static_cast<std::size_t>(i)];
        double* row = angle_rad.data() + static_cast<std::size_t>(i) * n_b;
        for (std::size_t j = 0; j < n_b; ++j) row[j] = misorientation_one(a, in.b[j], in.sym.data(), n_sym, nullptr);
    }
}

}  // namespace midas::crystallography
