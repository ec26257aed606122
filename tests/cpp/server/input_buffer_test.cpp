#include "server/input_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using squall::server::InputBuffer;

namespace {
void put(InputBuffer& b, const std::string& s) {
  std::memcpy(b.prepare(s.size()), s.data(), s.size());
  b.commit(s.size());
}
}  // namespace

TEST(InputBuffer, KeepsUnreadBytesAcrossGrowth) {
  InputBuffer b;
  put(b, "hello ");
  b.consume(2);
  put(b, std::string(100000, 'x'));
  EXPECT_EQ(b.size(), 4u + 100000u);
  EXPECT_EQ(b.unread().substr(0, 5), "llo x");
}

TEST(InputBuffer, ResetsWhenFullyConsumed) {
  InputBuffer b;
  put(b, "abc");
  b.consume(3);
  EXPECT_EQ(b.size(), 0u);
  put(b, "de");
  EXPECT_EQ(b.unread(), "de");
}
