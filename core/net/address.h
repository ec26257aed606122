#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace squall::net {

// A peer or local socket address, printable.
struct Endpoint {
  std::string host;  // numeric, "127.0.0.1" or "::1" (IPv4-mapped IPv6 shown as IPv4)
  int port = 0;
  sockaddr_storage raw{};
};

Endpoint endpoint_from(const sockaddr_storage& addr);
std::optional<Endpoint> local_endpoint(int fd);

// A list of IP addresses and CIDR networks ("*" matches everything). Used for
// --forwarded-allow-ips: proxy headers are honoured only from these peers.
class AllowList {
 public:
  // Returns false and sets `error` to the bad entry when an entry does not parse.
  bool parse(const std::vector<std::string>& entries, std::string& error);
  bool allows(const sockaddr_storage& addr) const;
  bool allows(std::string_view numeric_host) const;

 private:
  struct Net {
    int family;  // AF_INET or AF_INET6
    unsigned char bytes[16];
    int prefix;
  };
  bool any_ = false;
  std::vector<Net> nets_;
};

}  // namespace squall::net
