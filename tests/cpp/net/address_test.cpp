#include "net/address.h"

#include <gtest/gtest.h>

using squall::net::AllowList;

TEST(AllowList, MatchesSingleAddressesAndNetworks) {
  AllowList list;
  std::string bad;
  ASSERT_TRUE(list.parse({"127.0.0.1", "10.0.0.0/8", "fd00::/8"}, bad));
  EXPECT_TRUE(list.allows("127.0.0.1"));
  EXPECT_FALSE(list.allows("127.0.0.2"));
  EXPECT_TRUE(list.allows("10.200.3.4"));
  EXPECT_FALSE(list.allows("11.0.0.1"));
  EXPECT_TRUE(list.allows("fd12::1"));
  EXPECT_FALSE(list.allows("fe80::1"));
  EXPECT_FALSE(list.allows("not-an-ip"));
}

TEST(AllowList, StarAllowsEveryone) {
  AllowList list;
  std::string bad;
  ASSERT_TRUE(list.parse({"*"}, bad));
  EXPECT_TRUE(list.allows("203.0.113.9"));
}

TEST(AllowList, RejectsMalformedEntriesNamingThem) {
  AllowList list;
  std::string bad;
  EXPECT_FALSE(list.parse({"127.0.0.1", "10.0.0.0/33"}, bad));
  EXPECT_EQ(bad, "10.0.0.0/33");
  EXPECT_FALSE(list.parse({"example.com"}, bad));
  EXPECT_EQ(bad, "example.com");
  EXPECT_FALSE(list.parse({"10.0.0.0/"}, bad));
}

TEST(AllowList, Ipv4MappedPeersCompareAsIpv4) {
  AllowList list;
  std::string bad;
  ASSERT_TRUE(list.parse({"127.0.0.1"}, bad));
  EXPECT_TRUE(list.allows("::ffff:127.0.0.1"));
}
