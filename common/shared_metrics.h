#pragma once

// Metric families that the worker and the coordinator both export (docs/metrics.md), defined
// once: `scan` serves both sides from one registry, where prometheus-cpp merges families only
// when their definitions agree. Header-only: common/ itself does not link prometheus-cpp.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "common/version.h"

namespace mxcensus {

// mxcensus_internal_bugs_total{site}: situations the code rules out.
inline prometheus::Family<prometheus::Counter>& InternalBugsFamily(prometheus::Registry& r) {
  return prometheus::BuildCounter()
      .Name("mxcensus_internal_bugs_total")
      .Help("Situations the code rules out, by site (should stay 0)")
      .Register(r);
}

// mxcensus_build_info{version,git_sha,component} = 1.
inline void RegisterBuildInfo(prometheus::Registry& r, const char* component) {
  prometheus::BuildGauge()
      .Name("mxcensus_build_info")
      .Help("Build information")
      .Register(r)
      .Add({{"version", kVersion}, {"git_sha", kGitSha}, {"component", component}})
      .Set(1);
}

}  // namespace mxcensus
