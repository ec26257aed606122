#include "net/signal_pipe.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

using squall::net::SignalPipe;

TEST(SignalPipe, RecordsTheSignalAndItsSenderAndWakesTheFd) {
  SignalPipe pipe({SIGUSR1, SIGUSR2});
  kill(getpid(), SIGUSR2);
  pollfd p{pipe.fd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 1000), 1);
  auto got = pipe.drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].signo, SIGUSR2);
  EXPECT_EQ(got[0].sender, getpid());
  EXPECT_TRUE(pipe.drain().empty());
}

TEST(SignalPipe, RestoresThePreviousDisposition) {
  struct ::sigaction before {};
  ::sigaction(SIGUSR1, nullptr, &before);
  {
    SignalPipe pipe({SIGUSR1});
    struct ::sigaction during {};
    ::sigaction(SIGUSR1, nullptr, &during);
    EXPECT_NE(during.sa_sigaction, before.sa_sigaction);
  }
  struct ::sigaction after {};
  ::sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

TEST(SignalPipe, NothingIsBlocked) {
  SignalPipe pipe({SIGTERM});
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_EQ(sigismember(&mask, SIGTERM), 0);  // exec'd children get the default
}
