#include "state/shared_state.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace squall::state;

TEST(SharedState, WorkersWriteTheMasterReadsAcrossFork) {
  SharedState* state = SharedState::create();
  pid_t child = fork();
  if (child == 0) {
    WorkerSlot& slot = state->workers[3];
    slot.pid.store(getpid());
    slot.threads.store(2);
    slot.requests.store(42);
    slot.thread_slots[1].begin("GET", "/slow", monotonic_ns() - 5'000'000'000);
    slot.ready.store(1);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  Snapshot snap = snapshot(*state);
  ASSERT_EQ(snap.workers.size(), 1u);
  EXPECT_EQ(snap.workers[0].slot, 3);
  EXPECT_EQ(snap.workers[0].pid, child);
  EXPECT_TRUE(snap.workers[0].ready);
  EXPECT_EQ(snap.requests_total, 42u);
  EXPECT_GE(snap.workers[0].oldest_request, 5.0);
  EXPECT_STREQ(state->workers[3].thread_slots[1].path, "/slow");
}

TEST(SharedState, RetiringAWorkerKeepsThePodTotal) {
  SharedState* state = SharedState::create();
  state->workers[0].pid.store(100);
  state->workers[0].requests.store(7);
  state->workers[1].pid.store(101);
  state->workers[1].requests.store(5);
  EXPECT_EQ(snapshot(*state).requests_total, 12u);
  state->retire(state->workers[0]);
  Snapshot after = snapshot(*state);
  EXPECT_EQ(after.requests_total, 12u);  // never goes backwards
  EXPECT_EQ(after.workers.size(), 1u);
  EXPECT_EQ(state->workers[0].pid.load(), 0);
}

TEST(SharedState, LongPathsAreCutNotOverflowed) {
  SharedState* state = SharedState::create();
  std::string path(500, 'a');
  state->workers[0].thread_slots[0].begin("PROPFIND-LONG-METHOD", path, 1);
  EXPECT_EQ(std::string(state->workers[0].thread_slots[0].path).size(), sizeof(ThreadSlot::path) - 1);
  EXPECT_EQ(std::string(state->workers[0].thread_slots[0].method).size(), sizeof(ThreadSlot::method) - 1);
}
