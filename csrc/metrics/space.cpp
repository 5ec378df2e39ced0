#include "space.h"

#include <stdexcept>

namespace vsearch {

MetricKind metric_from_name(const std::string& name) {
    if (name == "l2") return MetricKind::kL2;
    if (name == "ip") return MetricKind::kInnerProduct;
    if (name == "cosine") return MetricKind::kCosine;
    throw std::invalid_argument("unknown metric '" + name + "': expected 'l2', 'ip' or 'cosine'");
}

std::string metric_name(MetricKind kind) {
    switch (kind) {
        case MetricKind::kInnerProduct: return "ip";
        case MetricKind::kCosine: return "cosine";
        case MetricKind::kL2: break;
    }
    return "l2";
}

}  // namespace vsearch
