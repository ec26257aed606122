#include "server/access_log.h"

#include <cstdio>

#include "log/log.h"
#include "server/exchange.h"

namespace squall::server {

void log_access(const Exchange& ex, double duration_ms) {
  log_access(ex.client.empty() ? ex.peer.host : ex.client, ex.head, ex.status(), ex.body_bytes(), duration_ms);
}

void log_access(const std::string& peer, const http::RequestHead& h, int status, std::uint64_t bytes,
                double duration_ms) {
  char version[16];
  std::snprintf(version, sizeof version, "HTTP/%d.%d", h.version_major, h.version_minor);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", duration_ms);
  std::string line;
  if (log::log_format() == log::LogFormat::Json) {
    line = "{\"time\": \"" + log::timestamp() + "\", \"level\": \"info\", \"logger\": \"squall.access\", \"message\": \"" +
           log::json_escape(h.method + " " + h.target) + "\", \"remote_addr\": \"" + log::json_escape(peer) +
           "\", \"method\": \"" + log::json_escape(h.method) + "\", \"path\": \"" + log::json_escape(h.target) +
           "\", \"protocol\": \"" + version + "\", \"status\": " + std::to_string(status) +
           ", \"bytes\": " + std::to_string(bytes) + ", \"duration_ms\": " + duration + "}\n";
  } else {
    line = log::timestamp() + " INFO squall.access: " + peer + " \"" + h.method + " " + h.target + " " + version +
           "\" " + std::to_string(status) + " " + std::to_string(bytes) + " " + duration + "ms\n";
  }
  log::write_line(line);
}

}  // namespace squall::server
