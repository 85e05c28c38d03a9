#pragma once

#include <cstdint>

namespace mxcensus::politeness {

// A token bucket for new connections per second (the global --rate). Pure: the caller passes
// the time, so tests need no clock. `rate` 0 means unlimited.
class RateLimiter {
 public:
  RateLimiter(double rate_per_s, double burst);
  // Takes one token if available at `now_us`.
  bool TryTake(uint64_t now_us);
  // Microseconds from `now_us` until a token is available (0 if one is now).
  uint64_t WaitUs(uint64_t now_us);
  bool unlimited() const { return rate_ <= 0; }

 private:
  void Refill(uint64_t now_us);
  double rate_;
  double burst_;
  double tokens_;
  uint64_t last_us_ = 0;
  bool started_ = false;
};

}  // namespace mxcensus::politeness
