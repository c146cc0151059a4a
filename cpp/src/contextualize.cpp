#include "draqcore/contextualize.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace draqcore {

void contextualize(const float* features, std::ptrdiff_t T, std::ptrdiff_t d, float* out) {
  const std::ptrdiff_t d2 = 2 * d;
  const double inv_t = 1.0 / double(T);
  std::vector<double> running(static_cast<std::size_t>(d), 0.0);
  std::vector<double> mean(static_cast<std::size_t>(d2), 0.0);
  // Pass 1: column means of [f_j, (1/T) sum_{t<=j} f_t] (Eq. 2), in double.
  for (std::ptrdiff_t t = 0; t < T; ++t) {
    const float* f = features + t * d;
    for (std::ptrdiff_t k = 0; k < d; ++k) {
      const double v = f[k];
      if (!std::isfinite(v)) {
        throw std::invalid_argument("features: row " + std::to_string(t) +
                                    " contains NaN or Inf");
      }
      running[k] += v;
      mean[k] += v;
      mean[d + k] += running[k] * inv_t;
    }
  }
  for (double& v : mean) v *= inv_t;
  // Pass 2: the centred features (Eq. 3), computed in double and rounded once. Finite input
  // can still leave the float32 range here (f_j - mean of two values near +-3.4e38): such a
  // value is refused rather than written as +-inf.
  std::fill(running.begin(), running.end(), 0.0);
  for (std::ptrdiff_t t = 0; t < T; ++t) {
    const float* f = features + t * d;
    float* g = out + t * d2;
    std::uint32_t overflow = 0;
    for (std::ptrdiff_t k = 0; k < d; ++k) {
      running[k] += double(f[k]);
      g[k] = float(double(f[k]) - mean[k]);
      g[d + k] = float(running[k] * inv_t - mean[d + k]);
    }
    for (std::ptrdiff_t k = 0; k < d2; ++k) {
      std::uint32_t bits;
      std::memcpy(&bits, g + k, sizeof bits);
      overflow |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (overflow) {
      std::ptrdiff_t k = 0;
      while (k < d2 && std::isfinite(g[k])) ++k;
      throw std::invalid_argument(
          "features: contextualized value of row " + std::to_string(t) + ", column " +
          std::to_string(k) + " is beyond the float32 range (|x| > 3.4e38); rescale the features");
    }
  }
}

}  // namespace draqcore
