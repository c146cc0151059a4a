// The one file that knows about Python: marshals NumPy arrays into the kernels, validates
// shapes, releases the GIL around the work and maps C++ exceptions to Python ones.
// Argument conversion (dtypes, contiguity) and user-facing validation live in the Python layer;
// the checks here are the last line of defence so that no input can crash the interpreter.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "draqcore/config.hpp"
#include "draqcore/contextualize.hpp"
#include "draqcore/cost_matrix.hpp"
#include "draqcore/draq_batch.hpp"
#include "draqcore/dtw.hpp"
#include "draqcore/forward_sweep.hpp"
#include "draqcore/interrupt.hpp"
#include "draqcore/random_paths.hpp"

namespace py = pybind11;
using ssize = std::ptrdiff_t;

namespace {

using farray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using i64array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

void require_2d(const farray& x, const char* name) {
  if (x.ndim() != 2) {
    throw std::invalid_argument(std::string(name) + ": expected a 2-D array, got " +
                                std::to_string(x.ndim()) + "-D");
  }
  if (x.shape(0) < 1 || x.shape(1) < 1) {
    throw std::invalid_argument(std::string(name) + ": must not be empty (shape (" +
                                std::to_string(x.shape(0)) + ", " + std::to_string(x.shape(1)) +
                                "))");
  }
}

py::array_t<std::int64_t> path_to_array(std::vector<std::int64_t>&& flat) {
  auto* owned = new std::vector<std::int64_t>(std::move(flat));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<std::int64_t>*>(p); });
  const ssize L = ssize(owned->size() / 2);
  return py::array_t<std::int64_t>({L, ssize(2)}, owned->data(), free_when_done);
}

std::uint64_t as_seed(const py::int_& seed) {
  // Python ints of any size: accept 0 <= seed < 2**64.
  if (PyObject_RichCompareBool(seed.ptr(), py::int_(0).ptr(), Py_LT) == 1) {
    throw std::invalid_argument("seed: must be a non-negative integer");
  }
  const unsigned long long v = PyLong_AsUnsignedLongLong(seed.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    throw std::invalid_argument("seed: must be below 2**64");
  }
  return std::uint64_t(v);
}

// Runs `work` with the GIL released and Ctrl-C honoured: the kernels poll (draqcore::
// poll_interrupt, at most every 50 ms, on this thread only), which re-takes the GIL to let Python
// run its signal handlers; a handler's exception (KeyboardInterrupt) stops the kernel and is
// raised here.
template <class Work>
auto interruptible(Work&& work) -> decltype(work()) {
  try {
    py::gil_scoped_release release;
    draqcore::InterruptScope scope([]() {
      py::gil_scoped_acquire acquire;
      return PyErr_CheckSignals() != 0;
    });
    return work();
  } catch (const draqcore::interrupted&) {
    throw py::error_already_set();  // the GIL is held again here; the signal's error is set
  }
}

// The Python layer refuses bad `threads` with a friendlier message; this is the last line of
// defence for direct callers of _core.
int check_threads(int threads) {
  // max_thread_request() is max(1024, cores): ask for the cores (a system call) only above 1024.
  if (threads > 1024 && threads > draqcore::max_thread_request()) {
    throw std::invalid_argument("threads: must be at most " +
                                std::to_string(draqcore::max_thread_request()) + ", got " +
                                std::to_string(threads));
  }
  return threads;
}

py::dict show_config() {
  py::dict d;
#ifdef DRAQCORE_VERSION
  d["version"] = DRAQCORE_VERSION;
#endif
  d["openmp"] = draqcore::has_openmp();
  d["threads"] = draqcore::max_threads();
  d["cores"] = draqcore::available_cores();
  d["forked_child"] = draqcore::forked_child();
  d["simd"] = draqcore::simd_level();
  d["cost_kernel"] = draqcore::cost_kernel_name();
  d["memory_limit_bytes"] = draqcore::memory_limit();
#if defined(__VERSION__)
  d["compiler"] = __VERSION__;
#endif
  return d;
}

farray cost_matrix(const farray& a, const farray& b, const std::string& metric, int threads) {
  require_2d(a, "a");
  require_2d(b, "b");
  if (a.shape(1) != b.shape(1)) {
    throw std::invalid_argument("a and b: feature dimensions differ (" +
                                std::to_string(a.shape(1)) + " vs " + std::to_string(b.shape(1)) +
                                ")");
  }
  const draqcore::Metric m = draqcore::parse_metric(metric);
  const ssize n = a.shape(0), mm = b.shape(0), d = a.shape(1);
  draqcore::check_memory(double(n) * double(mm) * sizeof(float), "cost_matrix output");
  farray out({n, mm});
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.mutable_data();
  check_threads(threads);
  interruptible([&] { draqcore::cost_matrix(pa, n, pb, mm, d, m, po, threads); });
  return out;
}

farray contextualize(const farray& f) {
  require_2d(f, "features");
  const ssize T = f.shape(0), d = f.shape(1);
  draqcore::check_memory(double(T) * double(2 * d) * sizeof(float), "contextualize output");
  farray out({T, 2 * d});
  const float* pf = f.data();
  float* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    draqcore::contextualize(pf, T, d, po);
  }
  return out;
}

// Many clips at once: outputs allocated first, then one parallel loop with the GIL released.
py::list contextualize_batch(const std::vector<farray>& features, int threads) {
  check_threads(threads);
  const ssize count = ssize(features.size());
  std::vector<const float*> in(static_cast<std::size_t>(count));
  std::vector<float*> outp(static_cast<std::size_t>(count));
  std::vector<ssize> lengths(static_cast<std::size_t>(count));
  py::list out(count);
  ssize d = -1;
  double bytes = 0.0;
  for (ssize c = 0; c < count; ++c) {
    const std::string name = "features[" + std::to_string(c) + "]";
    require_2d(features[c], name.c_str());
    if (d < 0) d = features[c].shape(1);
    if (features[c].shape(1) != d) {
      throw std::invalid_argument(name + ": feature dimension " + std::to_string(features[c].shape(1)) +
                                  " differs from features[0]'s " + std::to_string(d));
    }
    lengths[c] = features[c].shape(0);
    bytes += double(lengths[c]) * double(2 * d) * sizeof(float);
  }
  draqcore::check_memory(bytes, "contextualize_batch output");
  for (ssize c = 0; c < count; ++c) {
    farray o({lengths[c], 2 * d});
    outp[c] = o.mutable_data();
    in[c] = features[c].data();
    out[c] = o;
  }
  if (count > 0) {
    interruptible([&] {
      draqcore::contextualize_batch(in.data(), lengths.data(), count, d, outp.data(), threads);
    });
  }
  return out;
}

py::tuple dtw(const farray& cost, ssize radius, bool with_path, bool subsequence) {
  require_2d(cost, "cost");
  draqcore::check_subsequence_band(subsequence, radius);
  const ssize n = cost.shape(0), m = cost.shape(1);
  const float* pc = cost.data();
  std::vector<std::int64_t> flat;
  ssize span[2] = {0, m - 1};
  const double total = interruptible([&] {
    draqcore::check_finite(pc, n, m, m, "cost");
    return draqcore::dtw(pc, n, m, m, radius, with_path ? &flat : nullptr, subsequence, span);
  });
  py::object path = py::none();
  if (with_path) path = path_to_array(std::move(flat));
  return py::make_tuple(total, path, span[0], span[1]);
}

// Negative floats other than -0.0 have bit patterns above 0x80000000: an integer test that
// vectorises.
void check_nonnegative(const float* pc, ssize count) {
  std::uint32_t negative = 0;
  for (ssize i = 0; i < count; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, pc + i, sizeof bits);
    negative |= static_cast<std::uint32_t>(bits > 0x80000000u);
  }
  if (negative) {
    throw std::invalid_argument("cost: DRAQ is a ratio of path costs and needs non-negative costs");
  }
}

double expected_random_cost(const farray& cost, bool subsequence) {
  require_2d(cost, "cost");
  const ssize n = cost.shape(0), m = cost.shape(1);
  const float* pc = cost.data();
  return interruptible([&] {
    draqcore::check_finite(pc, n, m, m, "cost");
    if (!subsequence) return draqcore::expected_random_cost(pc, n, m, m);
    // The span comes from the subsequence DTW.
    draqcore::check_memory(draqcore::forward_sweep_bytes(n, m, -1, false), "expected_random_cost");
    draqcore::SweepWorkspace ws;
    return draqcore::draq_pair(pc, n, m, m, true, true, 1, 0, 0, -1, nullptr, ws).random_cost;
  });
}

py::array_t<double> random_path_costs(const farray& cost, ssize k, const py::int_& seed,
                                      const py::int_& stream, int threads) {
  require_2d(cost, "cost");
  if (k < 1) throw std::invalid_argument("k: must be at least 1, got " + std::to_string(k));
  check_threads(threads);
  const std::uint64_t s = as_seed(seed), st = as_seed(stream);
  const ssize n = cost.shape(0), m = cost.shape(1);
  draqcore::check_memory(double(k) * sizeof(double), "random_path_costs output");
  py::array_t<double> out(k);
  const float* pc = cost.data();
  double* po = out.mutable_data();
  interruptible([&] {
    draqcore::check_finite(pc, n, m, m, "cost");
    draqcore::random_path_costs(pc, n, m, m, k, s, st, po, threads);
  });
  return out;
}

double mean_random_path_cost(const farray& cost, ssize k, const py::int_& seed,
                             const py::int_& stream) {
  require_2d(cost, "cost");
  if (k < 1) throw std::invalid_argument("k: must be at least 1, got " + std::to_string(k));
  const std::uint64_t s = as_seed(seed), st = as_seed(stream);
  const ssize n = cost.shape(0), m = cost.shape(1);
  const float* pc = cost.data();
  return interruptible([&] {
    draqcore::check_finite(pc, n, m, m, "cost");
    return draqcore::mean_random_path_cost(pc, n, m, m, k, s, st);
  });
}

py::array_t<std::int64_t> random_path(ssize n, ssize m, const py::int_& seed,
                                      const py::int_& stream, const py::int_& index) {
  if (n < 1 || m < 1) throw std::invalid_argument("shape: n and m must be at least 1");
  const std::uint64_t s = as_seed(seed), st = as_seed(stream), ix = as_seed(index);
  std::vector<std::int64_t> cells;
  interruptible([&] { draqcore::random_path_cells(n, m, s, st, ix, cells); });
  return path_to_array(std::move(cells));
}

// One pair: the finiteness/sign check, then DTW and the random cost (draq_pair()).
double draq_single(const farray& cost, bool exact, ssize k, const py::int_& seed,
                   const py::int_& stream, bool subsequence) {
  require_2d(cost, "cost");
  if (!exact && k < 1) throw std::invalid_argument("k: must be at least 1, got " + std::to_string(k));
  const std::uint64_t s = as_seed(seed), st = as_seed(stream);
  const ssize n = cost.shape(0), m = cost.shape(1);
  const float* pc = cost.data();
  return interruptible([&] {
    draqcore::check_finite(pc, n, m, m, "cost");
    check_nonnegative(pc, n * m);
    draqcore::check_memory(draqcore::forward_sweep_bytes(n, m, -1, false), "draq");
    draqcore::SweepWorkspace ws;
    return draqcore::draq_pair(pc, n, m, m, subsequence, exact, k, s, st, -1, nullptr, ws).draq;
  });
}

py::tuple draq_batch(const farray& query, const std::vector<farray>& candidates,
                     const std::string& metric, bool exact, ssize k, const py::int_& seed,
                     ssize radius, bool return_paths, int threads, bool subsequence,
                     bool contextualize) {
  require_2d(query, "query");
  draqcore::check_subsequence_band(subsequence, radius);
  const ssize count = ssize(candidates.size());
  std::vector<const float*> pointers(static_cast<std::size_t>(count));
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(count + 1), 0);
  for (ssize c = 0; c < count; ++c) {
    const farray& cand = candidates[c];
    const std::string name = "candidates[" + std::to_string(c) + "]";
    require_2d(cand, name.c_str());
    if (cand.shape(1) != query.shape(1)) {
      throw std::invalid_argument(name + ": feature dimension " + std::to_string(cand.shape(1)) +
                                  " differs from the query's " + std::to_string(query.shape(1)));
    }
    pointers[c] = cand.data();
    offsets[c + 1] = offsets[c] + cand.shape(0);
  }
  const std::int64_t* off = offsets.data();
  if (!exact && k < 1) throw std::invalid_argument("k: must be at least 1, got " + std::to_string(k));

  draqcore::DraqBatchOptions opt;
  opt.metric = draqcore::parse_metric(metric);
  opt.exact = exact;
  opt.k = k;
  opt.seed = as_seed(seed);
  opt.radius = radius;
  opt.return_paths = return_paths;
  opt.subsequence = subsequence;
  opt.contextualize = contextualize;
  opt.threads = check_threads(threads);
  // Ctrl-C: the calling thread re-takes the GIL between pairs to let Python see signals.
  opt.should_stop = []() {
    py::gil_scoped_acquire acquire;
    return PyErr_CheckSignals() != 0;
  };

  draqcore::DraqBatchResult res;
  const float* pq = query.data();
  const ssize n = query.shape(0), d = query.shape(1);
  try {
    py::gil_scoped_release release;
    draqcore::draq_batch(pq, n, d, pointers.data(), off, count, opt, res);
  } catch (const draqcore::batch_cancelled&) {
    throw py::error_already_set();  // the KeyboardInterrupt (or other signal error) is set
  }

  py::array_t<double> dtw_cost(count), random_cost(count), draq(count);
  std::copy(res.dtw_cost.begin(), res.dtw_cost.end(), dtw_cost.mutable_data());
  std::copy(res.random_cost.begin(), res.random_cost.end(), random_cost.mutable_data());
  std::copy(res.draq.begin(), res.draq.end(), draq.mutable_data());
  py::array_t<std::int64_t> spans({count, ssize(2)});
  std::copy(res.spans.begin(), res.spans.end(), spans.mutable_data());
  py::object paths = py::none();
  if (return_paths) {
    py::list lst(count);
    for (ssize c = 0; c < count; ++c) lst[c] = path_to_array(std::move(res.paths[c]));
    paths = lst;
  }
  return py::make_tuple(dtw_cost, random_cost, draq, paths, spans);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "draqcore compiled kernels (private; use the draqcore package)";
  py::register_exception<draqcore::memory_limit_error>(m, "MemoryLimitError", PyExc_MemoryError);

  m.def("show_config", &show_config);
  m.def("memory_limit", &draqcore::memory_limit);
  m.def("max_thread_request", &draqcore::max_thread_request);
  m.def("set_memory_limit", &draqcore::set_memory_limit, py::arg("bytes"));
  m.def("cost_kernel", &draqcore::cost_kernel_name);
  m.def("available_cost_kernels", &draqcore::available_cost_kernels);
  m.def("set_cost_kernel", &draqcore::set_cost_kernel, py::arg("name"));
  m.def("cost_matrix", &cost_matrix, py::arg("a"), py::arg("b"), py::arg("metric"),
        py::arg("threads"));
  m.def("contextualize", &contextualize, py::arg("features"));
  m.def("contextualize_batch", &contextualize_batch, py::arg("features"), py::arg("threads"));
  m.def("dtw", &dtw, py::arg("cost"), py::arg("radius"), py::arg("with_path"),
        py::arg("subsequence"));
  m.def("expected_random_cost", &expected_random_cost, py::arg("cost"), py::arg("subsequence"));
  m.def("random_path_costs", &random_path_costs, py::arg("cost"), py::arg("k"), py::arg("seed"),
        py::arg("stream"), py::arg("threads"));
  m.def("mean_random_path_cost", &mean_random_path_cost, py::arg("cost"), py::arg("k"),
        py::arg("seed"), py::arg("stream"));
  m.def("random_path", &random_path, py::arg("n"), py::arg("m"), py::arg("seed"),
        py::arg("stream"), py::arg("index"));
  m.def("draq", &draq_single, py::arg("cost"), py::arg("exact"), py::arg("k"), py::arg("seed"),
        py::arg("stream"), py::arg("subsequence"));
  m.def("draq_ratio", &draqcore::draq_ratio, py::arg("dtw_cost"), py::arg("random_cost"));
  m.def("draq_batch", &draq_batch, py::arg("query"), py::arg("candidates"),
        py::arg("metric"), py::arg("exact"), py::arg("k"), py::arg("seed"), py::arg("radius"),
        py::arg("return_paths"), py::arg("threads"), py::arg("subsequence"),
        py::arg("contextualize") = false);
}
