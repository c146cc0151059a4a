// Internal: walking a traceback and turning it into a start-to-end path (shared by the sweeps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace draqcore {
namespace detail {

/// Moves stored by the sweeps into each cell; the branch-free sweeps may also store 3
/// (= up | left), which means left. kStart marks a cell of row 0 where a subsequence path
/// begins (it has no predecessor).
enum Step : unsigned char { kDiag = 0, kUp = 1, kLeft = 2, kStart = 4 };

/// Reverses a flat (i0, j0, i1, j1, ...) list of cells in place, pair by pair.
inline void reverse_cell_pairs(std::vector<std::int64_t>& cells) {
  if (cells.size() < 4) return;
  for (std::size_t x = 0, y = cells.size() / 2 - 1; x < y; ++x, --y) {
    std::swap(cells[2 * x], cells[2 * y]);
    std::swap(cells[2 * x + 1], cells[2 * y + 1]);
  }
}

/// The DTW path from (0, 0) to (n-1, m-1), traced back from (n-1, m-1) with step_at(i, j)
/// returning the stored Step into (i, j). For a subsequence path, end_col is its last column
/// j1 and the walk stops at (0, 0) or at the first cell marked kStart.
template <class StepAt>
void trace_path(std::ptrdiff_t n, std::ptrdiff_t m, StepAt&& step_at, std::vector<std::int64_t>& path,
                std::ptrdiff_t end_col = -1) {
  path.clear();
  std::ptrdiff_t i = n - 1, j = end_col < 0 ? m - 1 : end_col;
  path.reserve(static_cast<std::size_t>(2 * (n + j + 1)));
  while (true) {
    path.push_back(i);
    path.push_back(j);
    if (i == 0 && j == 0) break;
    const unsigned char step = step_at(i, j);
    if (step == kStart) break;
    switch (step) {
      case kDiag: --i; --j; break;
      case kUp: --i; break;
      default: --j; break;
    }
  }
  reverse_cell_pairs(path);
}

}  // namespace detail
}  // namespace draqcore
