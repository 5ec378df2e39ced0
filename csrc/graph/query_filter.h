// A search call's filter (id_filter.h) as its workers apply it, query by
// query: the passing slots as a SlotSet where the filter lists ids, or the
// predicate, and the tests a filtered walk (beam_walk.h) uses for them.
#pragma once

#include "beam_walk.h"
#include "id_filter.h"
#include "slot_set.h"

namespace vsearch {

// Slots in a SlotSet pass (it holds live slots only).
struct SlotSetTest {
    const SlotSet* set;
    bool passes(std::uint32_t node) const { return set->contains(node); }
    void prefetch(std::uint32_t node) const { __builtin_prefetch(set->words() + node / 64); }
};

// Live slots whose id the predicate passes.
struct PredicateTest {
    const std::uint8_t* states;
    const std::int64_t* ids;
    IdPredicate predicate;
    void* context;
    bool passes(std::uint32_t node) const {
        return states[node] == static_cast<std::uint8_t>(SlotState::kLive) && predicate(context, ids[node]);
    }
    void prefetch(std::uint32_t node) const {
        __builtin_prefetch(states + node);
        __builtin_prefetch(ids + node);
    }
};

// What a call shares among its workers: the passing slots of a shared id
// list (prepared, or looked up for this call), and a predicate's passing
// share (sampled once per call).
struct HnswIndex::CallFilter {
    const IdFilter& filter;
    SlotSet looked_up;
    const SlotSet* shared = nullptr;
    double predicate_share = 1.0;
};

// What one query may return: `allowed` (its passing slots, from an id list)
// or, when null, the predicate; `passing` counts (or, for a predicate,
// estimates) the live vectors that pass.
struct HnswIndex::QueryFilter {
    const SlotSet* allowed = nullptr;
    std::size_t passing = 0;
};

template <class Body>
void HnswIndex::with_test(const CallFilter& call, const QueryFilter& query, const Body& body) const {
    if (query.allowed) {
        body(SlotSetTest{query.allowed});
    } else {
        body(PredicateTest{states_.data(), ids_.data(), call.filter.predicate, call.filter.context});
    }
}

}  // namespace vsearch
