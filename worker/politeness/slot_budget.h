#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mxcensus::politeness {

// The probe engine's two concurrency budgets. The main budget (--concurrency) bounds the probes
// that cost CPU and memory. A probe that is only waiting (connect or greeting not there yet) costs
// one fd and ~2.3 KB: once it has waited `slow_after_us`, it moves to the slow budget
// (--slow-concurrency) if that has room, and its main slot goes to new work. A tarpit then holds
// a main slot for `slow_after` instead of the whole banner timeout. When the slow budget is full
// the probe keeps its main slot (and moves later, when a slow slot frees).
// A slow probe that makes progress (its greeting came, it writes again) comes back to the main
// budget even if that is full: no new probe starts until the main budget is back under its limit.
//
// Pure: the caller passes the time and tells which probes progressed, so tests need no clock and
// no sockets. Probes wait in start order, and all share one threshold, so the watch list is a
// FIFO (intrusive: no allocation per probe) and only its head is ever due.
class SlotBudget {
 public:
  struct Limits {
    size_t concurrency = 1000;    // main budget
    size_t slow_concurrency = 0;  // 0: no slow budget (probes never move)
    uint64_t slow_after_us = 0;   // 0: never move
  };

  // One probe's place in the budgets, embedded in the probe. Must stay at one address while held.
  class Entry {
   public:
    Entry() = default;
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    bool slow() const { return slow_; }
    bool held() const { return held_; }

   private:
    friend class SlotBudget;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    uint64_t since_us_ = 0;
    bool watched_ = false;  // in the FIFO: may still move to the slow budget
    bool slow_ = false;
    bool held_ = false;
  };

  explicit SlotBudget(Limits limits) : limits_(limits) {}
  SlotBudget(const SlotBudget&) = delete;
  SlotBudget& operator=(const SlotBudget&) = delete;

  bool enabled() const { return limits_.slow_concurrency > 0 && limits_.slow_after_us > 0; }
  // A new probe may start now.
  bool HasMainSlot() const { return main_ < limits_.concurrency; }
  // The probe starts: it takes a main slot (call only when HasMainSlot()).
  void Take(Entry* e, uint64_t now_us);
  // The probe is doing work again (it wrote something: EHLO after the greeting, or QUIT): it is
  // no longer a candidate, and if it was slow it returns to the main budget. Returns true when
  // that freed a slow slot. Cheap to call more than once.
  bool Progressed(Entry* e);
  // The probe ended: its slot (main or slow) is free.
  void Release(Entry* e);
  // Moves every watched probe that has waited `slow_after` to the slow budget, oldest first,
  // while that has room. Returns how many moved (each freed a main slot).
  size_t Sweep(uint64_t now_us);
  // When the next Sweep could move a probe: the oldest candidate's due time; nullopt when there
  // is none or the slow budget is full (a slow probe's Release or Progressed makes room).
  std::optional<uint64_t> NextDueUs() const;

  size_t main_in_use() const { return main_; }
  size_t slow_in_use() const { return slow_; }
  uint64_t moved_total() const { return moved_; }
  const Limits& limits() const { return limits_; }

 private:
  void Unwatch(Entry* e);

  Limits limits_;
  size_t main_ = 0;
  size_t slow_ = 0;
  uint64_t moved_ = 0;
  Entry* head_ = nullptr;  // oldest candidate
  Entry* tail_ = nullptr;
};

}  // namespace mxcensus::politeness
