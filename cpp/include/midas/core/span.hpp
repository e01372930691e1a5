// midas/core/span.hpp — `midas::span`, a minimal non-owning view (std::span when C++20 is on).
#pragma once

#include <cstddef>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
namespace midas {
template <class T>
using span = std::span<T>;
}  // namespace midas
#else
namespace midas {

/// Contiguous non-owning view of `size()` elements of T (a C++17 stand-in for std::span).
template <class T>
class span {
   public:
    using element_type = T;
    constexpr span() noexcept = default;
    constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class Container>
    constexpr span(Container& c) noexcept : data_(c.data()), size_(c.size()) {}
    [[nodiscard]] constexpr T* data() const noexcept { return data_; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
    [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }
    [[nodiscard]] constexpr span subspan(std::size_t offset, std::size_t count) const noexcept {
        return span(data_ + offset, count);
    }

   private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace midas
#endif
