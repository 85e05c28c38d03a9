// The probe engine's main and slow concurrency budgets (worker/politeness/slot_budget.h), driven
// with a fake clock: which probe holds which slot, when.
#include "worker/politeness/slot_budget.h"

#include <gtest/gtest.h>

#include <array>

namespace mxcensus::politeness {
namespace {

using Entry = SlotBudget::Entry;
constexpr uint64_t kMs = 1000;

SlotBudget::Limits L(size_t main, size_t slow, uint64_t after_ms) {
  return {.concurrency = main, .slow_concurrency = slow, .slow_after_us = after_ms * kMs};
}

TEST(SlotBudgetTest, WaitingProbeReleasesItsMainSlotAfterTheThreshold) {
  SlotBudget b(L(2, 10, 1000));
  Entry tarpit, healthy;
  b.Take(&tarpit, 0);
  b.Take(&healthy, 100 * kMs);
  EXPECT_FALSE(b.HasMainSlot());
  ASSERT_EQ(b.NextDueUs(), 1000 * kMs);
  EXPECT_EQ(b.Sweep(999 * kMs), 0u);  // not yet
  EXPECT_FALSE(b.HasMainSlot());
  b.Progressed(&healthy);  // its greeting came and it sent EHLO: never moves
  EXPECT_EQ(b.Sweep(1000 * kMs), 1u);
  EXPECT_TRUE(tarpit.slow());
  EXPECT_TRUE(b.HasMainSlot());
  EXPECT_EQ(b.main_in_use(), 1u);
  EXPECT_EQ(b.slow_in_use(), 1u);
  EXPECT_EQ(b.NextDueUs(), std::nullopt);  // nothing left to watch
  EXPECT_EQ(b.Sweep(5000 * kMs), 0u);
  EXPECT_FALSE(healthy.slow());
  // The tarpit's banner timeout ends it: the slow slot frees, the main count is untouched.
  b.Release(&tarpit);
  EXPECT_EQ(b.slow_in_use(), 0u);
  EXPECT_EQ(b.main_in_use(), 1u);
  b.Release(&healthy);
  EXPECT_EQ(b.main_in_use(), 0u);
  EXPECT_EQ(b.moved_total(), 1u);
}

TEST(SlotBudgetTest, FullSlowBudgetKeepsTheMainSlotUntilASlowSlotFrees) {
  SlotBudget b(L(3, 1, 1000));
  std::array<Entry, 3> e;
  for (size_t i = 0; i < e.size(); ++i) b.Take(&e[i], i * kMs);
  EXPECT_EQ(b.Sweep(2000 * kMs), 1u);  // only one fits
  EXPECT_TRUE(e[0].slow());
  EXPECT_FALSE(e[1].slow());
  EXPECT_FALSE(e[2].slow());
  EXPECT_EQ(b.main_in_use(), 2u);
  EXPECT_EQ(b.NextDueUs(), std::nullopt);  // full: no timer until a slow slot frees
  EXPECT_EQ(b.Sweep(9000 * kMs), 0u);
  b.Release(&e[0]);
  // The oldest waiting probe is overdue: it moves at once, the next one stays.
  ASSERT_EQ(b.NextDueUs(), 1001 * kMs);
  EXPECT_EQ(b.Sweep(9000 * kMs), 1u);
  EXPECT_TRUE(e[1].slow());
  EXPECT_FALSE(e[2].slow());
  EXPECT_EQ(b.main_in_use(), 1u);
  EXPECT_EQ(b.slow_in_use(), 1u);
}

TEST(SlotBudgetTest, SlowProbeThatWakesUpReturnsToTheMainBudget) {
  SlotBudget b(L(1, 5, 500));
  Entry slow_greeter, next;
  b.Take(&slow_greeter, 0);
  ASSERT_EQ(b.Sweep(600 * kMs), 1u);
  ASSERT_TRUE(b.HasMainSlot());
  b.Take(&next, 600 * kMs);
  // The greeting comes at last: the probe works again and is counted in the main budget,
  // over its limit, so no new probe starts until one ends.
  EXPECT_TRUE(b.Progressed(&slow_greeter));
  EXPECT_FALSE(slow_greeter.slow());
  EXPECT_EQ(b.main_in_use(), 2u);
  EXPECT_EQ(b.slow_in_use(), 0u);
  EXPECT_FALSE(b.HasMainSlot());
  EXPECT_FALSE(b.Progressed(&slow_greeter));  // once only
  b.Release(&slow_greeter);
  EXPECT_FALSE(b.HasMainSlot());
  b.Release(&next);
  EXPECT_TRUE(b.HasMainSlot());
  EXPECT_EQ(b.main_in_use(), 0u);
}

TEST(SlotBudgetTest, ProbesEndingBeforeTheThresholdLeaveTheWatchListInAnyOrder) {
  SlotBudget b(L(10, 10, 1000));
  std::array<Entry, 5> e;
  for (size_t i = 0; i < e.size(); ++i) b.Take(&e[i], i * 100 * kMs);
  b.Release(&e[2]);                      // middle
  b.Release(&e[0]);                      // head
  b.Release(&e[4]);                      // tail
  ASSERT_EQ(b.NextDueUs(), 1100 * kMs);  // e[1]
  EXPECT_EQ(b.Sweep(1200 * kMs), 1u);
  ASSERT_EQ(b.NextDueUs(), 1300 * kMs);  // e[3]
  EXPECT_EQ(b.Sweep(1300 * kMs), 1u);
  EXPECT_TRUE(e[1].slow());
  EXPECT_TRUE(e[3].slow());
  EXPECT_EQ(b.NextDueUs(), std::nullopt);
  // New probes after the list emptied are watched again.
  Entry f;
  b.Take(&f, 2000 * kMs);
  EXPECT_EQ(b.NextDueUs(), 3000 * kMs);
  b.Release(&e[1]);
  b.Release(&e[3]);
  b.Release(&f);
  EXPECT_EQ(b.main_in_use() + b.slow_in_use(), 0u);
  EXPECT_EQ(b.NextDueUs(), std::nullopt);
}

TEST(SlotBudgetTest, OffWhenEitherKnobIsZero) {
  for (auto limits : {L(1, 0, 1000), L(1, 10, 0)}) {
    SlotBudget b(limits);
    EXPECT_FALSE(b.enabled());
    Entry e;
    b.Take(&e, 0);
    EXPECT_EQ(b.NextDueUs(), std::nullopt);
    EXPECT_EQ(b.Sweep(1000000 * kMs), 0u);
    EXPECT_FALSE(b.HasMainSlot());  // the tarpit holds its slot to the end, as before
    b.Release(&e);
    EXPECT_TRUE(b.HasMainSlot());
  }
}

// Many probes, a tarpit every fifth (4 s), healthy ones done in 300 ms: the main budget never
// exceeds its limit (nothing wakes up), the slow one neither, healthy probes keep starting while
// tarpits wait, and every slot comes back.
TEST(SlotBudgetTest, CountsStayConsistentUnderChurn) {
  SlotBudget b(L(20, 30, 1000));
  std::array<Entry, 400> e;
  std::array<uint64_t, 400> started{};
  size_t next = 0, ended = 0;
  for (uint64_t now = 0; ended < e.size(); now += 50 * kMs) {
    ASSERT_LT(now, 200000 * kMs);
    for (size_t i = 0; i < next; ++i) {
      uint64_t life = (i % 5 == 0 ? 4000 : 300) * kMs;
      if (e[i].held() && now >= started[i] + life) {
        b.Release(&e[i]);
        ++ended;
      }
    }
    b.Sweep(now);
    while (b.HasMainSlot() && next < e.size()) {
      started[next] = now;
      b.Take(&e[next++], now);
    }
    ASSERT_LE(b.main_in_use(), 20u);
    ASSERT_LE(b.slow_in_use(), 30u);
  }
  EXPECT_EQ(b.main_in_use() + b.slow_in_use(), 0u);
  EXPECT_EQ(b.moved_total(), 80u);  // every tarpit moved: the slow budget never filled
}

}  // namespace
}  // namespace mxcensus::politeness
