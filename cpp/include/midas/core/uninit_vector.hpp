// midas/core/uninit_vector.hpp — a std::vector whose resize leaves new elements uninitialised.
//
// Large outputs that a parallel loop fills completely (a CSR matrix's entries, per-pixel tables)
// would otherwise be zeroed by one thread first: a serial pass over hundreds of MB. With this
// allocator resize() only allocates, and the pages are first touched by the threads that fill
// them. Only for trivial element types, and only where every element is written before it is read.
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace midas {

/// Allocator adaptor: value-initialisation (construct(p) with no arguments) becomes
/// default-initialisation, which leaves trivial types uninitialised.
template <class T, class Base = std::allocator<T>>
class DefaultInitAllocator : public Base {
    using traits = std::allocator_traits<Base>;

   public:
    template <class U>
    struct rebind {
        using other = DefaultInitAllocator<U, typename traits::template rebind_alloc<U>>;
    };
    using Base::Base;
    DefaultInitAllocator() = default;

    template <class U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        traits::construct(static_cast<Base&>(*this), p, std::forward<Args>(args)...);
    }
};

/// std::vector of a trivial type whose resize() does not zero the new elements.
template <class T>
using uninit_vector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace midas
