#include "net/address.h"

#include <arpa/inet.h>

#include <cstring>

namespace squall::net {
namespace {

// IPv4-mapped IPv6 (::ffff:a.b.c.d) is compared and shown as IPv4.
bool unmap_v4(const sockaddr_in6& a6, in_addr& out) {
  if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) return false;
  std::memcpy(&out, a6.sin6_addr.s6_addr + 12, 4);
  return true;
}

bool prefix_match(const unsigned char* a, const unsigned char* b, int prefix) {
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a, b, full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

Endpoint endpoint_from(const sockaddr_storage& addr) {
  Endpoint ep;
  ep.raw = addr;
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    auto& a4 = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &a4.sin_addr, buf, sizeof buf);
    ep.port = ntohs(a4.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto& a6 = reinterpret_cast<const sockaddr_in6&>(addr);
    in_addr v4;
    if (unmap_v4(a6, v4))
      inet_ntop(AF_INET, &v4, buf, sizeof buf);
    else
      inet_ntop(AF_INET6, &a6.sin6_addr, buf, sizeof buf);
    ep.port = ntohs(a6.sin6_port);
  }
  ep.host = buf;
  return ep;
}

std::optional<Endpoint> local_endpoint(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return std::nullopt;
  return endpoint_from(addr);
}

bool AllowList::parse(const std::vector<std::string>& entries, std::string& error) {
  any_ = false;
  nets_.clear();
  for (const auto& entry : entries) {
    if (entry == "*") {
      any_ = true;
      continue;
    }
    std::string host = entry;
    int prefix = -1;
    if (auto slash = entry.find('/'); slash != std::string::npos) {
      host = entry.substr(0, slash);
      std::string bits = entry.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos) {
        error = entry;
        return false;
      }
      prefix = std::stoi(bits);
    }
    Net net{};
    if (inet_pton(AF_INET, host.c_str(), net.bytes) == 1) {
      net.family = AF_INET;
      net.prefix = prefix < 0 ? 32 : prefix;
      if (net.prefix > 32) {
        error = entry;
        return false;
      }
    } else if (inet_pton(AF_INET6, host.c_str(), net.bytes) == 1) {
      net.family = AF_INET6;
      net.prefix = prefix < 0 ? 128 : prefix;
      if (net.prefix > 128) {
        error = entry;
        return false;
      }
    } else {
      error = entry;
      return false;
    }
    nets_.push_back(net);
  }
  return true;
}

bool AllowList::allows(const sockaddr_storage& addr) const {
  if (any_) return true;
  unsigned char bytes[16];
  int family;
  if (addr.ss_family == AF_INET) {
    family = AF_INET;
    std::memcpy(bytes, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, 4);
  } else if (addr.ss_family == AF_INET6) {
    auto& a6 = reinterpret_cast<const sockaddr_in6&>(addr);
    in_addr v4;
    if (unmap_v4(a6, v4)) {
      family = AF_INET;
      std::memcpy(bytes, &v4, 4);
    } else {
      family = AF_INET6;
      std::memcpy(bytes, &a6.sin6_addr, 16);
    }
  } else {
    return false;  // unix sockets: never a trusted proxy unless "*"
  }
  for (const auto& net : nets_)
    if (net.family == family && prefix_match(net.bytes, bytes, net.prefix)) return true;
  return false;
}

bool AllowList::allows(std::string_view numeric_host) const {
  if (any_) return true;
  sockaddr_storage addr{};
  std::string host(numeric_host);
  auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1)
    addr.ss_family = AF_INET;
  else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1)
    addr.ss_family = AF_INET6;
  else
    return false;
  return allows(addr);
}

}  // namespace squall::net
