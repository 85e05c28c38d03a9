#pragma once

namespace mxcensus {

// One deleter for C free functions (STYLE.md B4): std::unique_ptr<T, FnDeleter<T_free>>.
template <auto Fn>
struct FnDeleter {
  template <class T>
  void operator()(T* p) const {
    Fn(p);
  }
};

}  // namespace mxcensus
