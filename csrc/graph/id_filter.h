// What a filtered search may return besides being live (search(..., filter=)),
// and the path it takes to find it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "slot_set.h"

namespace vsearch {

// Allowed ids looked up once for many searches (Index.prepare_filter): the
// slots hold while the index they were taken from is unchanged (same owner,
// same slot version); otherwise a search looks the ids up again.
struct PreparedIds {
    std::vector<std::int64_t> ids;
    SlotSet slots;
    const void* owner = nullptr;
    std::uint64_t version = 0;
};

// A user's test of one id: a compiled predicate, or a trampoline into
// Python. Called from search threads, concurrently; must not throw.
using IdPredicate = bool (*)(void* context, std::int64_t id);

struct IdFilter {
    enum class Kind : std::uint8_t { kSharedIds, kQueryIds, kPredicate };
    Kind kind = Kind::kSharedIds;
    // kSharedIds: `id_count` allowed ids, for every query. kQueryIds: query
    // i's are ids[offsets[i]] .. ids[offsets[i + 1] - 1], offsets having one
    // entry per query and one more. An id not in the index allows nothing.
    const std::int64_t* ids = nullptr;
    std::size_t id_count = 0;
    const std::int64_t* offsets = nullptr;
    // kSharedIds, optionally: the same ids, prepared (ids and id_count point into it).
    const PreparedIds* prepared = nullptr;
    // kPredicate: an id passes when predicate(context, id) is true.
    IdPredicate predicate = nullptr;
    void* context = nullptr;
};

// How a filtered search finds a query's results: a filtered graph walk, an
// exact scan of the passing vectors, or (auto) whichever costs less.
enum class SearchPlan : std::uint8_t { kAuto, kGraph, kExact };

}  // namespace vsearch
