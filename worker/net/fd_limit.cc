#include "worker/net/fd_limit.h"

#include <sys/resource.h>

namespace mxcensus::net {

void RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

size_t ProbeSocketCeiling() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1000;
  if (rl.rlim_max == RLIM_INFINITY) return 1000000;
  size_t hard = static_cast<size_t>(rl.rlim_max);
  return hard > 2 * kReservedDescriptors ? hard - kReservedDescriptors : hard / 2;
}

}  // namespace mxcensus::net
