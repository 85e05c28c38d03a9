#include "worker/politeness/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace mxcensus::politeness {

RateLimiter::RateLimiter(double rate_per_s, double burst)
    : rate_(rate_per_s), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)) {}

void RateLimiter::Refill(uint64_t now_us) {
  if (!started_) {
    started_ = true;
    last_us_ = now_us;
    return;
  }
  if (now_us <= last_us_) return;
  tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - last_us_) * rate_ / 1e6);
  last_us_ = now_us;
}

bool RateLimiter::TryTake(uint64_t now_us) {
  if (unlimited()) return true;
  Refill(now_us);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

uint64_t RateLimiter::WaitUs(uint64_t now_us) {
  if (unlimited()) return 0;
  Refill(now_us);
  if (tokens_ >= 1.0) return 0;
  return static_cast<uint64_t>(std::ceil((1.0 - tokens_) * 1e6 / rate_));
}

}  // namespace mxcensus::politeness
