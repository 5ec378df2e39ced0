// Thin pybind11 layer: converts arrays, releases the GIL around native work,
// and maps results and C++ exceptions to Python objects. Validation of user
// input happens in the vsearch package; the checks here only keep the native
// code memory-safe.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "../graph/hnsw_index.h"
#include "../graph/limits.h"
#include "../io/anonymous_file.h"
#include "../io/crc32c.h"
#include "../metrics/kernels.h"
#include "../metrics/space.h"
#include "../storage/half.h"

namespace py = pybind11;
using vsearch::HnswIndex;

namespace {

using FloatRows = py::array_t<float, py::array::c_style>;
using IdArray = py::array_t<std::int64_t, py::array::c_style>;

// Rows of a (n, dim) array, or 1 for a single (dim,) vector.
std::size_t row_count(const FloatRows& rows, std::size_t dim, const char* what) {
    if (rows.ndim() == 1 && static_cast<std::size_t>(rows.shape(0)) == dim) return 1;
    if (rows.ndim() != 2 || static_cast<std::size_t>(rows.shape(1)) != dim)
        throw std::invalid_argument(std::string(what) + " must have shape (n, " + std::to_string(dim) + ")");
    return static_cast<std::size_t>(rows.shape(0));
}

using Floats = py::array_t<float, py::array::c_style>;

// Storage names as the package and the file format spell them.
vsearch::Storage storage_from_name(const std::string& name) {
    if (name == "float32") return vsearch::Storage::kFloat32;
    if (name == "float16") return vsearch::Storage::kFloat16;
    throw std::invalid_argument("unknown storage '" + name + "': expected float32 or float16");
}
std::string storage_name(vsearch::Storage storage) {
    return storage == vsearch::Storage::kFloat16 ? "float16" : "float32";
}

// Everything that defines an index, from Python values. A custom metric comes
// as the address of a compiled function (numba cfunc), which the caller keeps
// alive for as long as the index.
vsearch::IndexParams make_params(std::size_t dim, const std::string& metric, std::size_t M,
                                 std::size_t ef_construction, std::size_t ef, std::uint64_t seed,
                                 const std::optional<Floats>& gssf_diagonal, const std::optional<Floats>& gssf_blocks,
                                 std::size_t gssf_block_size, std::uintptr_t custom_address,
                                 const std::optional<std::string>& simd, const std::string& storage) {
    vsearch::IndexParams params;
    params.dim = dim;
    params.metric = vsearch::metric_from_name(metric);
    params.M = M;
    params.ef_construction = ef_construction;
    params.ef = ef;
    params.seed = seed;
    params.simd = simd ? vsearch::level_from_name(*simd) : vsearch::active_level();
    if (gssf_diagonal) params.metric_params.gssf_diagonal.assign(gssf_diagonal->data(), gssf_diagonal->data() + gssf_diagonal->size());
    if (gssf_blocks) params.metric_params.gssf_blocks.assign(gssf_blocks->data(), gssf_blocks->data() + gssf_blocks->size());
    params.metric_params.gssf_block_size = gssf_block_size;
    params.metric_params.custom = reinterpret_cast<vsearch::CustomKernel>(custom_address);
    params.storage = storage_from_name(storage);
    vsearch::Space check(params.metric, dim, params.simd, params.metric_params);  // throws for bad parameters
    return params;
}

py::tuple add(HnswIndex& index, const FloatRows& vectors, const std::optional<IdArray>& ids, std::size_t threads,
              const std::optional<py::function>& progress, bool replace) {
    const std::size_t n = row_count(vectors, index.dim(), "vectors");
    if (ids && (ids->ndim() != 1 || static_cast<std::size_t>(ids->shape(0)) != n))
        throw std::invalid_argument("ids must have shape (" + std::to_string(n) + ",)");
    std::function<void(std::size_t)> report;
    std::optional<py::error_already_set> progress_error;
    if (progress) {
        report = [&](std::size_t done) {
            py::gil_scoped_acquire gil;
            if (progress_error) return;
            try {
                (*progress)(done);
            } catch (py::error_already_set& e) {
                progress_error = std::move(e);  // re-raised once the batch is safely in
            }
        };
    }
    vsearch::AddOutcome outcome;
    {
        py::gil_scoped_release release;
        outcome = index.add(vectors.data(), ids ? ids->data() : nullptr, n, threads, report, replace);
    }
    if (progress_error) throw std::move(*progress_error);
    IdArray conflicts(static_cast<py::ssize_t>(outcome.conflicts.size()));
    std::copy(outcome.conflicts.begin(), outcome.conflicts.end(), conflicts.mutable_data());
    return py::make_tuple(conflicts, outcome.first_auto_id);
}

// The (ids, distances) of k neighbours per query, filled by `fill(n, ids,
// distances)` with the GIL released; a single 1-D query gets 1-D results.
template <class Fill>
py::tuple neighbour_results(const FloatRows& queries, std::size_t n, std::size_t k, const Fill& fill) {
    std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)};
    if (queries.ndim() == 1) shape.erase(shape.begin());
    IdArray ids(shape);
    py::array_t<float> distances(shape);
    std::int64_t* ids_out = ids.mutable_data();
    float* distances_out = distances.mutable_data();
    {
        py::gil_scoped_release release;
        fill(ids_out, distances_out);
    }
    return py::make_tuple(ids, distances);
}

// ef 0: the index's own; exact: every vector compared (ef unused).
py::tuple search(const HnswIndex& index, const FloatRows& queries, std::size_t k, std::size_t ef,
                 std::size_t threads, bool exact) {
    const std::size_t n = row_count(queries, index.dim(), "queries");
    return neighbour_results(queries, n, k, [&](std::int64_t* ids, float* distances) {
        if (exact)
            index.search_exact(queries.data(), n, k, threads, ids, distances);
        else
            index.search(queries.data(), n, k, ef, threads, ids, distances);
    });
}

// The reference search of one 1-D query (tests compare the fast walk with it):
// (ids, distances), only `allowed` ids (when given) as results.
py::tuple search_reference(const HnswIndex& index, const FloatRows& query, std::size_t k, std::size_t ef,
                           const std::optional<IdArray>& allowed) {
    if (query.ndim() != 1) throw std::invalid_argument("the reference search takes one 1-D query");
    row_count(query, index.dim(), "query");
    std::unordered_set<std::int64_t> allowed_ids;
    if (allowed) allowed_ids.insert(allowed->data(), allowed->data() + allowed->size());
    return neighbour_results(query, 1, k, [&](std::int64_t* ids, float* distances) {
        index.search_reference(query.data(), k, ef, allowed ? &allowed_ids : nullptr, ids, distances);
    });
}

// A filter from the package (vsearch/filters.py): `kind` "ids" (ids for
// every query), "query_ids" (flat ids and per-query offsets), "prepared" (a
// PreparedIds, as `callable`), "compiled" (the address of a numba cfunc
// bool(int64)) or "python" (a callable, called with the GIL held). The
// arrays and objects stay referenced while it lives.
class FilterArgs {
public:
    FilterArgs(const std::string& kind, std::optional<IdArray> ids, std::optional<IdArray> offsets,
               std::uintptr_t address, py::object callable)
        : ids_(std::move(ids)), offsets_(std::move(offsets)), callable_(std::move(callable)) {
        using Kind = vsearch::IdFilter::Kind;
        if (kind == "prepared") {
            const auto& prepared = callable_.cast<const vsearch::PreparedIds&>();
            filter_.kind = Kind::kSharedIds;
            filter_.ids = prepared.ids.data();
            filter_.id_count = prepared.ids.size();
            filter_.prepared = &prepared;
        } else if (kind == "ids" || kind == "query_ids") {
            if (!ids_ || ids_->ndim() != 1) throw std::invalid_argument("filter ids must be one-dimensional");
            filter_.kind = kind == "ids" ? Kind::kSharedIds : Kind::kQueryIds;
            filter_.ids = ids_->data();
            filter_.id_count = static_cast<std::size_t>(ids_->shape(0));
            if (kind == "query_ids") {
                if (!offsets_ || offsets_->ndim() != 1) throw std::invalid_argument("filter offsets must be one-dimensional");
                filter_.offsets = offsets_->data();
            }
        } else if (kind == "compiled") {
            if (address == 0) throw std::invalid_argument("a compiled predicate needs its address");
            filter_.kind = Kind::kPredicate;
            filter_.predicate = &call_compiled;
            filter_.context = reinterpret_cast<void*>(address);
        } else if (kind == "python") {
            filter_.kind = Kind::kPredicate;
            filter_.predicate = &call_python;
            filter_.context = this;
        } else {
            throw std::invalid_argument("unknown filter kind '" + kind + "'");
        }
    }
    FilterArgs(const FilterArgs&) = delete;
    FilterArgs& operator=(const FilterArgs&) = delete;

    // Throws std::invalid_argument unless there is one offset per query and one more.
    const vsearch::IdFilter& filter(std::size_t queries) const {
        if (filter_.kind == vsearch::IdFilter::Kind::kQueryIds && static_cast<std::size_t>(offsets_->shape(0)) != queries + 1)
            throw std::invalid_argument("a per-query filter needs one list of ids per query");
        return filter_;
    }
    // Re-raises what the Python callable raised during the search, if anything (GIL held).
    void raise_callable_error() {
        if (callable_error_) throw std::move(*callable_error_);
    }

private:
    static bool call_compiled(void* function, std::int64_t id) {
        return reinterpret_cast<bool (*)(std::int64_t)>(function)(id);
    }
    // After the callable raised once, nothing passes and it is not called again.
    static bool call_python(void* context, std::int64_t id) {
        auto& self = *static_cast<FilterArgs*>(context);
        py::gil_scoped_acquire gil;
        if (self.callable_error_) return false;
        try {
            const py::object verdict = self.callable_(id);
            const int truth = PyObject_IsTrue(verdict.ptr());
            if (truth < 0) throw py::error_already_set();
            return truth == 1;
        } catch (py::error_already_set& e) {
            self.callable_error_ = std::move(e);
            return false;
        }
    }

    vsearch::IdFilter filter_;
    std::optional<IdArray> ids_, offsets_;
    py::object callable_;
    std::optional<py::error_already_set> callable_error_;
};

vsearch::SearchPlan plan_from_name(const std::string& plan) {
    if (plan == "auto") return vsearch::SearchPlan::kAuto;
    if (plan == "graph") return vsearch::SearchPlan::kGraph;
    if (plan == "exact") return vsearch::SearchPlan::kExact;
    throw std::invalid_argument("plan must be 'auto', 'graph' or 'exact', not '" + plan + "'");
}

py::tuple search_filtered(const HnswIndex& index, const FloatRows& queries, std::size_t k, std::size_t ef,
                          std::size_t threads, FilterArgs& filter, const std::string& plan) {
    const std::size_t n = row_count(queries, index.dim(), "queries");
    const vsearch::IdFilter& spec = filter.filter(n);
    const vsearch::SearchPlan chosen = plan_from_name(plan);
    py::tuple results = neighbour_results(queries, n, k, [&](std::int64_t* ids, float* distances) {
        index.search_filtered(queries.data(), n, k, ef, threads, spec, chosen, ids, distances);
    });
    filter.raise_callable_error();
    return results;
}

// (flat ids, flat distances, offsets): query i's hits are [offsets[i], offsets[i + 1]).
py::tuple range_search(const HnswIndex& index, const FloatRows& queries, float radius, std::size_t ef,
                       std::size_t max_results, std::size_t threads, FilterArgs* filter) {
    const std::size_t n = row_count(queries, index.dim(), "queries");
    const vsearch::IdFilter* spec = filter ? &filter->filter(n) : nullptr;
    std::vector<std::vector<vsearch::Ranked>> hits;
    {
        py::gil_scoped_release release;
        index.range_search(queries.data(), n, radius, ef, max_results, threads, spec, hits);
    }
    if (filter) filter->raise_callable_error();
    IdArray offsets(static_cast<py::ssize_t>(n + 1));
    std::int64_t* offset = offsets.mutable_data();
    offset[0] = 0;
    for (std::size_t i = 0; i < n; ++i) offset[i + 1] = offset[i] + static_cast<std::int64_t>(hits[i].size());
    IdArray ids(static_cast<py::ssize_t>(offset[n]));
    py::array_t<float> distances(static_cast<py::ssize_t>(offset[n]));
    std::int64_t* id_out = ids.mutable_data();
    float* distance_out = distances.mutable_data();
    for (const auto& query_hits : hits)
        for (const vsearch::Ranked& hit : query_hits) {
            *id_out++ = hit.id;
            *distance_out++ = hit.distance;
        }
    return py::make_tuple(ids, distances, offsets);
}

py::tuple get(const HnswIndex& index, const IdArray& ids) {
    if (ids.ndim() != 1) throw std::invalid_argument("ids must be one-dimensional");
    const auto n = static_cast<py::ssize_t>(ids.shape(0));
    py::array_t<float> out({n, static_cast<py::ssize_t>(index.dim())});
    const std::ptrdiff_t missing = index.get(ids.data(), static_cast<std::size_t>(n), out.mutable_data());
    return py::make_tuple(out, missing);
}

// (number removed, position of the first unknown id or -1).
py::tuple remove_ids(HnswIndex& index, const IdArray& ids, bool missing_ok, std::size_t threads) {
    if (ids.ndim() != 1) throw std::invalid_argument("ids must be one-dimensional");
    vsearch::RemoveOutcome outcome;
    {
        py::gil_scoped_release release;
        outcome = index.remove(ids.data(), static_cast<std::size_t>(ids.shape(0)), missing_ok, threads);
    }
    return py::make_tuple(outcome.removed, outcome.first_unknown);
}

py::dict stats(const HnswIndex& index) {
    const vsearch::IndexStats s = index.stats();
    py::dict d;
    d["count"] = s.count;
    d["removed"] = s.removed;
    d["free_slots"] = s.free_slots;
    d["slots"] = s.count + s.removed + s.free_slots;
    d["capacity"] = s.capacity;
    d["max_level"] = s.max_level;
    d["entry_point_id"] = s.entry_point_id;
    d["level_counts"] = s.level_counts;
    d["mean_degree"] = s.mean_degree;
    return d;
}

float kernel_distance(const vsearch::IndexParams& params, const Floats& a, const Floats& b) {
    if (a.ndim() != 1 || b.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != params.dim ||
        static_cast<std::size_t>(b.shape(0)) != params.dim)
        throw std::invalid_argument("a and b must be 1-D arrays of length dim");
    const vsearch::Space space(params.metric, params.dim, params.simd, params.metric_params);
    return space.pair_distance(a.data(), b.data());
}

using Halves = py::array_t<vsearch::Half, py::array::c_style>;

// One raw kernel on a float32 `a` and a half row `b` at one SIMD level (for tests):
// "l2sq", "dot" or "l2sq_shifted" (with `shift`).
float half_kernel(const std::string& kernel, const Floats& a, const Halves& b, float shift, const std::string& simd) {
    if (a.ndim() != 1 || b.ndim() != 1 || a.shape(0) != b.shape(0))
        throw std::invalid_argument("a and b must be 1-D arrays of one length");
    const auto& kernels = vsearch::kernels_for(vsearch::level_from_name(simd)).f16;
    const std::size_t n = static_cast<std::size_t>(a.shape(0));
    if (kernel == "l2sq") return kernels.l2sq(a.data(), b.data(), n);
    if (kernel == "dot") return kernels.dot(a.data(), b.data(), n);
    if (kernel == "l2sq_shifted") return kernels.l2sq_shifted(a.data(), b.data(), shift, n);
    throw std::invalid_argument("unknown half kernel '" + kernel + "': expected l2sq, dot or l2sq_shifted");
}

std::vector<std::string> supported_level_names() {
    std::vector<std::string> names;
    for (auto level : vsearch::supported_levels()) names.push_back(vsearch::level_name(level));
    return names;
}

std::uint32_t crc32c_of(const py::object& data, std::uint32_t value) {
    Py_buffer view;  // PyBUF_SIMPLE: contiguous bytes, or a BufferError
    if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    std::uint32_t crc;
    {
        py::gil_scoped_release release;
        crc = vsearch::crc32c(view.buf, static_cast<std::size_t>(view.len), value);
    }
    PyBuffer_Release(&view);
    return crc;
}

// Numpy views of the index's sections (read-only unless `writable`), kept
// alive by the index. `layout` gives the sizes.
py::dict section_views(const HnswIndex& index, const vsearch::SavedLayout& layout,
                       const vsearch::SavedSections& s, py::handle owner, bool writable) {
    const auto n = static_cast<py::ssize_t>(layout.count);
    const auto M = static_cast<py::ssize_t>(index.params().M);
    auto view = [&](auto* data, std::vector<py::ssize_t> shape) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
        py::array_t<T> array(shape, data, owner);
        if (!writable) py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
        return array;
    };
    py::dict views;
    const std::vector<py::ssize_t> rows{n, static_cast<py::ssize_t>(index.row_stride())};
    if (index.params().storage == vsearch::Storage::kFloat16)
        views["vectors"] = view(static_cast<const vsearch::Half*>(s.vectors), rows);
    else
        views["vectors"] = view(static_cast<const float*>(s.vectors), rows);
    if (const char* scalars = vsearch::row_scalar_section(index.params().metric)) views[scalars] = view(s.row_scalars, {n});
    views["ids"] = view(s.ids, {n});
    views["levels"] = view(s.levels, {n});
    views["level0_links"] = view(s.level0_links, {n, 1 + 2 * M});
    views["upper_offsets"] = view(s.upper_offsets, {n});
    views["upper_links"] = view(s.upper_links, {static_cast<py::ssize_t>(layout.upper_blocks), 1 + M});
    views[vsearch::kSlotStatesSection] = view(s.states, {n});
    return views;
}

py::dict layout_of(const HnswIndex& index) {
    const vsearch::SavedLayout layout = index.layout();
    py::dict d;
    d["count"] = layout.count;
    d["max_level"] = layout.max_level;
    d["entry_point"] = layout.entry_point;
    d["max_id"] = layout.max_id;
    d["upper_blocks"] = layout.upper_blocks;
    d["row_stride"] = index.row_stride();
    return d;
}

template <typename T>
const T* section_pointer(const py::dict& sections, const char* name, std::size_t expected) {
    if (!sections.contains(name)) {
        if (expected == 0) return nullptr;
        throw std::invalid_argument(std::string("missing section ") + name);
    }
    auto array = py::cast<py::array_t<T, py::array::c_style>>(sections[name]);
    if (static_cast<std::size_t>(array.size()) != expected)
        throw std::invalid_argument(std::string("section ") + name + " has the wrong size");
    return array.data();
}

vsearch::SavedLayout saved_layout(const py::dict& layout) {
    vsearch::SavedLayout saved;
    saved.count = layout["count"].cast<std::size_t>();
    saved.max_level = layout["max_level"].cast<int>();
    saved.entry_point = layout["entry_point"].cast<std::int64_t>();
    saved.max_id = layout["max_id"].cast<std::int64_t>();
    saved.upper_blocks = layout["upper_blocks"].cast<std::size_t>();
    saved.has_states = !layout.contains("has_states") || layout["has_states"].cast<bool>();
    return saved;
}

// Runs a validation step; returns None or (section, message) on FormatError.
template <typename Step>
py::object format_problem(Step step) {
    try {
        py::gil_scoped_release release;
        step();
    } catch (const vsearch::FormatError& e) {
        return py::make_tuple(e.section(), e.what());
    }
    return py::none();
}

// (index, None) for an index reading the mapped `sections`, which it keeps
// alive, or (None, (section, message)) when they fail validation.
py::tuple map_sections(const vsearch::IndexParams& params, const py::dict& layout, const py::dict& sections) {
    const vsearch::SavedLayout saved = saved_layout(layout);
    const std::size_t n = saved.count;
    const std::size_t M = params.M;
    vsearch::SavedSections s;
    const std::size_t row_elements = n * vsearch::VectorStore::padded_stride(params.dim, params.storage);
    if (params.storage == vsearch::Storage::kFloat16)
        s.vectors = section_pointer<vsearch::Half>(sections, "vectors", row_elements);
    else
        s.vectors = section_pointer<float>(sections, "vectors", row_elements);
    if (const char* scalars = vsearch::row_scalar_section(params.metric))
        s.row_scalars = section_pointer<float>(sections, scalars, n);
    s.ids = section_pointer<std::int64_t>(sections, "ids", n);
    s.levels = section_pointer<std::uint8_t>(sections, "levels", n);
    s.level0_links = section_pointer<std::uint32_t>(sections, "level0_links", n * (1 + 2 * M));
    s.upper_offsets = section_pointer<std::uint32_t>(sections, "upper_offsets", n);
    s.upper_links = section_pointer<std::uint32_t>(sections, "upper_links", saved.upper_blocks * (1 + M));
    if (saved.has_states) s.states = section_pointer<std::uint8_t>(sections, vsearch::kSlotStatesSection, n);
    std::unique_ptr<HnswIndex> index;
    py::object problem = format_problem([&] { index = HnswIndex::map_sections(params, saved, s); });
    if (!problem.is_none()) return py::make_tuple(py::none(), problem);
    py::object result = py::cast(std::move(index));
    result.attr("_mapped_sections") = sections;
    return py::make_tuple(result, py::none());
}

// Raises the vsearch.errors class `name` (looked up when raised: the package
// defines the classes and imports this module, so they exist by then).
void raise_vsearch_error(const char* name, const std::string& message, const char* section = nullptr) {
    py::object type = py::module_::import("vsearch.errors").attr(name);
    py::object error = section ? type(message, py::arg("section") = section) : type(message);
    PyErr_SetObject(type.ptr(), error.ptr());
}

// Every C++ exception that can leave the core becomes a vsearch.errors class
// whose built-in base is the one pybind11 would give (ValueError, MemoryError,
// OverflowError, IndexError), so `except ValueError` keeps working.
void translate_exception(std::exception_ptr thrown) {
    try {
        std::rethrow_exception(thrown);
    } catch (const py::error_already_set&) {
        throw;  // a Python exception passing through (a progress callback's): pybind11 restores it
    } catch (const py::builtin_exception&) {
        throw;
    } catch (const std::bad_alloc&) {
        raise_vsearch_error("OutOfMemoryError",
                            "out of memory: the native core could not allocate what this call needs, and nothing "
                            "was changed; free memory or pass a smaller batch");
    } catch (const vsearch::InvalidVectorError& e) {
        raise_vsearch_error("InvalidVectorError", e.what());
    } catch (const vsearch::FormatError& e) {
        raise_vsearch_error("IndexFormatError", e.what(), e.section().c_str());
    } catch (const vsearch::ReadOnlyError& e) {
        raise_vsearch_error("ReadOnlyIndexError", e.what());
    } catch (const std::length_error& e) {
        raise_vsearch_error("CapacityError", e.what());
    } catch (const std::overflow_error& e) {
        raise_vsearch_error("IdOverflowError", e.what());
    } catch (const std::out_of_range& e) {
        raise_vsearch_error("OutOfRangeError", e.what());
    } catch (const std::logic_error& e) {  // invalid_argument, domain_error: a bad value got past the package
        raise_vsearch_error("InvalidParameterError", e.what());
    } catch (const std::exception& e) {  // runtime_error, system_error: nothing the caller did wrong
        raise_vsearch_error("NativeError", e.what());
    }
}

// Throws the C++ exception `kind`, so tests can check every translation
// (the ones the API cannot provoke on demand, like length_error, included).
void raise_native_error(const std::string& kind, const std::string& message) {
    if (kind == "bad_alloc") throw std::bad_alloc();
    if (kind == "invalid_vector") throw vsearch::InvalidVectorError(message);
    if (kind == "format") throw vsearch::FormatError("levels", message);
    if (kind == "read_only") throw vsearch::ReadOnlyError(message);
    if (kind == "length_error") throw std::length_error(message);
    if (kind == "overflow_error") throw std::overflow_error(message);
    if (kind == "out_of_range") throw std::out_of_range(message);
    if (kind == "invalid_argument") throw std::invalid_argument(message);
    if (kind == "domain_error") throw std::domain_error(message);
    if (kind == "runtime_error") throw std::runtime_error(message);
    throw std::invalid_argument("unknown kind '" + kind + "'");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "vsearch native core (HNSW graph, SIMD kernels). Use the vsearch package, not this module.";

    py::register_exception_translator(&translate_exception);
    m.def("raise_native_error", &raise_native_error, py::arg("kind"), py::arg("message"),
          "Throws a C++ exception of the given kind (for the tests of the exception mapping).");

    py::class_<vsearch::IndexParams>(m, "IndexParams");
    py::class_<vsearch::PreparedIds>(m, "PreparedIds", "Allowed ids looked up in one index (Index.prepare_filter).")
        .def("__len__", [](const vsearch::PreparedIds& p) { return p.ids.size(); })
        .def_property_readonly("ids", [](const vsearch::PreparedIds& p) {
            IdArray ids(static_cast<py::ssize_t>(p.ids.size()));
            std::copy(p.ids.begin(), p.ids.end(), ids.mutable_data());
            return ids;
        });
    py::class_<FilterArgs>(m, "Filter", "A search filter as the core reads it (built by vsearch.filters).")
        .def(py::init<const std::string&, std::optional<IdArray>, std::optional<IdArray>, std::uintptr_t, py::object>(),
             py::arg("kind"), py::arg("ids") = py::none(), py::arg("offsets") = py::none(), py::arg("address") = 0,
             py::arg("callable") = py::none());
    m.def("make_params", &make_params, py::arg("dim"), py::arg("metric"), py::arg("M") = vsearch::kDefaultM,
          py::arg("ef_construction") = vsearch::kDefaultEfConstruction, py::arg("ef") = vsearch::kDefaultEf,
          py::arg("seed") = 0,
          py::arg("gssf_diagonal") = py::none(), py::arg("gssf_blocks") = py::none(), py::arg("gssf_block_size") = 0,
          py::arg("custom_address") = 0, py::arg("simd") = py::none(), py::arg("storage") = "float32");
    m.def("distance", &kernel_distance, py::arg("params"), py::arg("a"), py::arg("b"),
          "Distance between two vectors as an index with these parameters computes it (for tests).");
    m.def(
        "distance",
        [](const std::string& metric, const Floats& a, const Floats& b, const std::string& simd) {
            if (a.ndim() != 1) throw std::invalid_argument("a must be a 1-D array");
            return kernel_distance(make_params(static_cast<std::size_t>(a.shape(0)), metric, vsearch::kDefaultM,
                                               vsearch::kDefaultEfConstruction, vsearch::kDefaultEf, 0, std::nullopt,
                                               std::nullopt, 0, 0, simd, "float32"),
                                   a, b);
        },
        py::arg("metric"), py::arg("a"), py::arg("b"), py::arg("simd"),
        "Distance with the kernel of one SIMD level, for metrics that need no parameters (for tests).");
    m.def("half_kernel", &half_kernel, py::arg("kernel"), py::arg("a"), py::arg("b"), py::arg("shift"),
          py::arg("simd"), "A raw kernel on a float32 vector and a row of halves (for tests).");
    m.def(
        "to_halves",
        [](const Floats& values) {
            Halves out(values.size());
            for (py::ssize_t i = 0; i < values.size(); ++i) out.mutable_data()[i] = vsearch::float_to_half(values.data()[i]);
            return out;
        },
        py::arg("values"), "The halves the index stores for float32 values (round to nearest even; for tests).");
    m.def(
        "from_halves",
        [](const Halves& values, const std::optional<std::string>& simd) {
            Floats out(values.size());
            if (simd)
                vsearch::kernels_for(vsearch::level_from_name(*simd)).widen(values.data(), out.mutable_data(),
                                                                            static_cast<std::size_t>(values.size()));
            else
                for (py::ssize_t i = 0; i < values.size(); ++i) out.mutable_data()[i] = vsearch::half_to_float(values.data()[i]);
            return out;
        },
        py::arg("values"), py::arg("simd") = py::none(),
        "Halves widened to float32: by the portable conversion, or by one SIMD level's widen kernel (for tests).");
    m.def("supported_simd_levels", &supported_level_names);
    m.def("crc32c", &crc32c_of, py::arg("data"), py::arg("value") = 0,
          "CRC-32C of a buffer, continuing from `value`.");
    m.def(
        "link_anonymous_file",
        [](int fd, const std::string& path) {
            const int error = vsearch::link_anonymous_file(fd, path.c_str());
            if (error != 0) {
                errno = error;
                PyErr_SetFromErrnoWithFilename(PyExc_OSError, path.c_str());
                throw py::error_already_set();
            }
        },
        py::arg("fd"), py::arg("path"), "Gives the anonymous (O_TMPFILE) file open as fd the name path; OSError if the OS cannot.");
    m.def("map_sections", &map_sections, py::arg("params"), py::arg("layout"), py::arg("sections"));
    m.def("allocate_restore",
          [](const vsearch::IndexParams& params, const py::dict& layout) {
              return HnswIndex::allocate_restore(params, saved_layout(layout));
          },
          py::arg("params"), py::arg("layout"));
    m.def("active_simd_level", [] { return vsearch::level_name(vsearch::active_level()); });
    // The limits and defaults of limits.h, for the package's checks and the file reader.
    m.attr("MAX_ELEMENTS") = vsearch::kMaxElements;
    m.attr("MAX_DIM") = vsearch::kMaxDim;
    m.attr("MAX_M") = vsearch::kMaxM;
    m.attr("MAX_EF") = vsearch::kMaxEf;
    m.attr("MAX_LEVEL") = vsearch::kMaxLevel;
    m.attr("MAX_THREADS") = vsearch::kMaxThreads;
    m.attr("MAX_GSSF_BLOCK_SIZE") = vsearch::kMaxGssfBlockSize;
    m.attr("MAX_UPPER_BLOCKS") = std::size_t{vsearch::LinkStore::kNoBlock} - 1;  // uint32 block numbers; all ones is "none"
    m.attr("MISSING_ID") = vsearch::kMissingId;
    m.attr("DEFAULT_M") = vsearch::kDefaultM;
    m.attr("DEFAULT_EF_CONSTRUCTION") = vsearch::kDefaultEfConstruction;
    m.attr("DEFAULT_EF") = vsearch::kDefaultEf;
    m.attr("DEFAULT_CONSOLIDATE_FRACTION") = vsearch::kDefaultConsolidateFraction;
    m.attr("SLOT_STATES_SECTION") = vsearch::kSlotStatesSection;
    // The file layout the stored rows dictate (vsearch/FORMAT.md): rows start on
    // cache lines, so mapped sections must be aligned at least as much.
    m.attr("ROW_ALIGNMENT") = vsearch::kCacheLine;
    m.def(
        "row_stride",
        [](std::size_t dim, const std::string& storage) {
            return vsearch::VectorStore::padded_stride(dim, storage_from_name(storage));
        },
        py::arg("dim"), py::arg("storage") = "float32", "Elements per stored row of dimension dim.");
    m.attr("STORAGES") = py::make_tuple("float32", "float16");
    // The metrics by name, and the file sections that belong to one.
    std::vector<std::string> metrics;
    py::dict row_scalar_sections;
    for (vsearch::MetricKind kind : vsearch::kAllMetrics) {
        metrics.push_back(vsearch::metric_name(kind));
        if (const char* section = vsearch::row_scalar_section(kind)) row_scalar_sections[py::str(metrics.back())] = section;
    }
    m.attr("METRICS") = py::tuple(py::cast(metrics));
    m.attr("ROW_SCALAR_SECTIONS") = row_scalar_sections;
    m.attr("GSSF_SECTION") = vsearch::kGssfWeightsSection;

    py::class_<HnswIndex>(m, "HnswIndex", py::dynamic_attr())
        .def(py::init<const vsearch::IndexParams&>(), py::arg("params"))
        .def("add", &add, py::arg("vectors"), py::arg("ids"), py::arg("threads"), py::arg("progress") = py::none(),
             py::arg("replace") = false)
        .def("remove", &remove_ids, py::arg("ids"), py::arg("missing_ok"), py::arg("threads"))
        .def("consolidate", &HnswIndex::consolidate, py::arg("threads"), py::call_guard<py::gil_scoped_release>())
        .def("compact", &HnswIndex::compact, py::arg("threads"), py::call_guard<py::gil_scoped_release>())
        .def_property("consolidate_fraction", &HnswIndex::consolidate_fraction, &HnswIndex::set_consolidate_fraction)
        .def("search", &search, py::arg("queries"), py::arg("k"), py::arg("ef"), py::arg("threads"),
             py::arg("exact") = false)
        .def("search_reference", &search_reference, py::arg("query"), py::arg("k"), py::arg("ef"),
             py::arg("allowed").none(true))
        .def("prepare_ids",
             [](const HnswIndex& index, const IdArray& ids) {
                 if (ids.ndim() != 1) throw std::invalid_argument("ids must be one-dimensional");
                 auto prepared = std::make_unique<vsearch::PreparedIds>();
                 index.prepare_ids(ids.data(), static_cast<std::size_t>(ids.shape(0)), *prepared);
                 return prepared;
             },
             py::arg("ids"))
        .def("search_filtered", &search_filtered, py::arg("queries"), py::arg("k"), py::arg("ef"), py::arg("threads"),
             py::arg("filter"), py::arg("plan"))
        .def("range_search", &range_search, py::arg("queries"), py::arg("radius"), py::arg("ef"),
             py::arg("max_results"), py::arg("threads"), py::arg("filter").none(true))
        .def("get", &get, py::arg("ids"))
        .def("contains", &HnswIndex::contains, py::arg("id"))
        .def("__len__", &HnswIndex::size)
        .def_property_readonly("dim", &HnswIndex::dim)
        .def_property_readonly("M", [](const HnswIndex& i) { return i.params().M; })
        .def_property_readonly("ef_construction", [](const HnswIndex& i) { return i.params().ef_construction; })
        .def_property_readonly("seed", [](const HnswIndex& i) { return i.params().seed; })
        .def_property_readonly("simd", [](const HnswIndex& i) { return vsearch::level_name(i.params().simd); })
        .def_property_readonly("storage", [](const HnswIndex& i) { return storage_name(i.params().storage); })
        .def_property("ef", &HnswIndex::ef, &HnswIndex::set_ef)
        .def("memory_bytes", &HnswIndex::memory_bytes)
        .def("reserved_bytes", &HnswIndex::reserved_bytes)
        .def("reserve", &HnswIndex::reserve, py::arg("total"), py::call_guard<py::gil_scoped_release>())
        .def("ids",
             [](const HnswIndex& index) {
                 std::vector<std::int64_t> ids = index.live_ids();
                 return py::array_t<std::int64_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
             })
        .def("stats", &stats)
        .def("lock_mutations", &HnswIndex::lock_mutations, py::call_guard<py::gil_scoped_release>())
        .def("unlock_mutations", &HnswIndex::unlock_mutations)
        .def("layout", &layout_of)
        .def("sections",
             [](py::object self) {
                 const auto& index = self.cast<const HnswIndex&>();
                 return section_views(index, index.layout(), index.sections(), self, false);
             })
        .def("writable_sections",
             [](py::object self, const py::dict& layout) {
                 auto& index = self.cast<HnswIndex&>();
                 return section_views(index, saved_layout(layout), index.writable_sections(), self, true);
             })
        .def("finish_restore",
             [](HnswIndex& index, const py::dict& layout) {
                 const vsearch::SavedLayout saved = saved_layout(layout);
                 return format_problem([&] { index.finish_restore(saved); });
             })
        .def("verify", [](const HnswIndex& index) { return format_problem([&] { index.verify(); }); })
        .def_property_readonly("read_only", &HnswIndex::read_only);
}
