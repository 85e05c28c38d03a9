#include "worker/politeness/slot_budget.h"

namespace mxcensus::politeness {

void SlotBudget::Take(Entry* e, uint64_t now_us) {
  e->held_ = true;
  e->slow_ = false;
  ++main_;
  if (!enabled()) return;
  e->since_us_ = now_us;
  e->watched_ = true;
  e->prev_ = tail_;
  e->next_ = nullptr;
  if (tail_) {
    tail_->next_ = e;
  } else {
    head_ = e;
  }
  tail_ = e;
}

void SlotBudget::Unwatch(Entry* e) {
  if (!e->watched_) return;
  (e->prev_ ? e->prev_->next_ : head_) = e->next_;
  (e->next_ ? e->next_->prev_ : tail_) = e->prev_;
  e->prev_ = e->next_ = nullptr;
  e->watched_ = false;
}

bool SlotBudget::Progressed(Entry* e) {
  if (!e->held_) return false;
  Unwatch(e);
  if (!e->slow_) return false;
  e->slow_ = false;
  --slow_;
  ++main_;  // may exceed the limit for a while: HasMainSlot() holds new probes back
  return true;
}

void SlotBudget::Release(Entry* e) {
  if (!e->held_) return;
  Unwatch(e);
  if (e->slow_) {
    --slow_;
  } else {
    --main_;
  }
  e->slow_ = false;
  e->held_ = false;
}

size_t SlotBudget::Sweep(uint64_t now_us) {
  size_t moved = 0;
  while (head_ && slow_ < limits_.slow_concurrency &&
         now_us >= head_->since_us_ + limits_.slow_after_us) {
    Entry* e = head_;
    Unwatch(e);
    e->slow_ = true;
    --main_;
    ++slow_;
    ++moved;
  }
  moved_ += moved;
  return moved;
}

std::optional<uint64_t> SlotBudget::NextDueUs() const {
  if (!head_ || slow_ >= limits_.slow_concurrency) return std::nullopt;
  return head_->since_us_ + limits_.slow_after_us;
}

}  // namespace mxcensus::politeness
