// The fuzz targets' check: a broken invariant is a bug for the fuzzer to report, so it aborts
// with the reason.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace plexi::fuzz {

inline void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}

}  // namespace plexi::fuzz
