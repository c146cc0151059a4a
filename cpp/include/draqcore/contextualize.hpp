// Contextualized frame features (paper Eq. 2-3).
#pragma once

#include <cstddef>

namespace draqcore {

/// @brief Contextualized features of one clip.
///
/// For frames f_1..f_T (rows of `features`, (T, d) row-major float32) writes `out` (T, 2d):
///   g_j = f_j (+) (1/T) sum_{t<=j} f_t          (Eq. 2, (+) = concatenation)
///   out_j = g_j - (1/T) sum_l g_l                (Eq. 3, zero-centred over the clip)
/// Sums are accumulated in double and each output rounded once to float32. Throws
/// std::invalid_argument naming `features` on NaN/Inf, and when an output value does not fit
/// float32 (finite input near the float32 range).
/// Complexity O(T d); working memory O(d) doubles.
void contextualize(const float* features, std::ptrdiff_t T, std::ptrdiff_t d, float* out);

/// @brief contextualize() of `count` clips at once, in parallel over clips (up to `threads`,
/// <= 0: all cores; dynamic schedule, clips differ in length).
///
/// Clip c is features[c] ((lengths[c], d) row-major float32) into out[c] ((lengths[c], 2d),
/// preallocated). Each clip is computed by contextualize() on one thread: the same bits as
/// one call per clip. The error reported (std::invalid_argument, prefixed "features[c]: ") is
/// the one of the lowest-numbered bad clip, whatever the thread count.
void contextualize_batch(const float* const* features, const std::ptrdiff_t* lengths,
                         std::ptrdiff_t count, std::ptrdiff_t d, float* const* out, int threads);

}  // namespace draqcore
