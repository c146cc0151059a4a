#include "draqcore/contextualize.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "draqcore/config.hpp"
#include "dispatch.hpp"

#ifdef DRAQCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace draqcore {

namespace {

// NaN and Inf are the floats whose exponent bits are all ones: an integer test that vectorises.
inline std::uint32_t not_finite(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
}

// Pass 1 over one frame: running sums and the column sums of both halves of Eq. 2, in double.
// No branch in the loop (the finiteness test is accumulated), so it vectorises; AVX2 where the
// CPU has it (no fused multiply-add: the same bits from every clone). Returns true when the
// frame holds a NaN or Inf.
DRAQCORE_CLONES_AVX2
bool accumulate_frame(const float* f, std::ptrdiff_t d, double inv_t, double* running,
                      double* sum_f, double* sum_r) {
  std::uint32_t bad = 0;
  for (std::ptrdiff_t k = 0; k < d; ++k) {
    const double v = f[k];
    bad |= not_finite(f[k]);
    running[k] += v;
    sum_f[k] += v;
    sum_r[k] += running[k] * inv_t;
  }
  return bad != 0;
}

// Pass 2 over one frame: both centred halves (Eq. 3), computed in double and rounded once.
// Returns true when a value left the float32 range.
DRAQCORE_CLONES_AVX2
bool centre_frame(const float* f, std::ptrdiff_t d, double inv_t, double* running,
                  const double* mean_f, const double* mean_r, float* g) {
  std::uint32_t bad = 0;
  for (std::ptrdiff_t k = 0; k < d; ++k) {
    running[k] += double(f[k]);
    const float a = float(double(f[k]) - mean_f[k]);
    const float b = float(running[k] * inv_t - mean_r[k]);
    g[k] = a;
    g[d + k] = b;
    bad |= not_finite(a) | not_finite(b);
  }
  return bad != 0;
}

}  // namespace

void contextualize(const float* features, std::ptrdiff_t T, std::ptrdiff_t d, float* out) {
  const std::ptrdiff_t d2 = 2 * d;
  const double inv_t = 1.0 / double(T);
  std::vector<double> running(static_cast<std::size_t>(d), 0.0);
  std::vector<double> mean(static_cast<std::size_t>(d2), 0.0);
  // Pass 1: column means of [f_j, (1/T) sum_{t<=j} f_t] (Eq. 2), in double.
  for (std::ptrdiff_t t = 0; t < T; ++t) {
    if (accumulate_frame(features + t * d, d, inv_t, running.data(), mean.data(), mean.data() + d)) {
      throw std::invalid_argument("features: row " + std::to_string(t) + " contains NaN or Inf");
    }
  }
  for (double& v : mean) v *= inv_t;
  // Pass 2: the centred features (Eq. 3). Finite input can still leave the float32 range here
  // (f_j - mean of two values near +-3.4e38): such a value is refused rather than written as
  // +-inf.
  std::fill(running.begin(), running.end(), 0.0);
  for (std::ptrdiff_t t = 0; t < T; ++t) {
    float* g = out + t * d2;
    if (centre_frame(features + t * d, d, inv_t, running.data(), mean.data(), mean.data() + d, g)) {
      std::ptrdiff_t k = 0;
      while (k < d2 && std::isfinite(g[k])) ++k;
      throw std::invalid_argument(
          "features: contextualized value of row " + std::to_string(t) + ", column " +
          std::to_string(k) + " is beyond the float32 range (|x| > 3.4e38); rescale the features");
    }
  }
}

void contextualize_batch(const float* const* features, const std::ptrdiff_t* lengths,
                         std::ptrdiff_t count, std::ptrdiff_t d, float* const* out, int threads) {
  std::ptrdiff_t total = 0;
  for (std::ptrdiff_t c = 0; c < count; ++c) total += lengths[c];
  const int nthreads = resolve_threads(threads);
  std::ptrdiff_t first_bad = count;
  std::string bad_message;
  // Clips differ in length: one at a time. Worth threads only above ~1M values (a clip of
  // 150 x 1024 takes ~0.2 ms).
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads) if (nthreads > 1 && count > 1 && total * d > (1 << 20))
#endif
  for (std::ptrdiff_t c = 0; c < count; ++c) {
    try {
      contextualize(features[c], lengths[c], d, out[c]);
    } catch (const std::exception& e) {
#ifdef DRAQCORE_HAVE_OPENMP
#pragma omp critical(draqcore_contextualize_batch)
#endif
      if (c < first_bad) {
        first_bad = c;
        std::string what = e.what();
        const std::string prefix = "features: ";
        if (what.compare(0, prefix.size(), prefix) == 0) what = what.substr(prefix.size());
        bad_message = "features[" + std::to_string(c) + "]: " + what;
      }
    }
  }
  (void)nthreads;
  if (first_bad < count) throw std::invalid_argument(bad_message);
}

}  // namespace draqcore
