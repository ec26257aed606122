#include "log/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace squall::log {
namespace {
std::atomic<LogFormat> g_format{LogFormat::Text};
std::atomic<LogLevel> g_level{LogLevel::Info};

// Levels above Error ("critical") always pass; an unknown name too.
bool below_level(std::string_view level) {
  LogLevel min = g_level.load();
  if (level == "debug") return min > LogLevel::Debug;
  if (level == "info") return min > LogLevel::Info;
  if (level == "warning") return min > LogLevel::Warning;
  if (level == "error") return min > LogLevel::Error;
  return false;
}
}  // namespace

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return out;
}

}  // namespace

void write_line(const std::string& line) {
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(2, line.data() + off, line.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

void set_log_format(LogFormat format) { g_format.store(format); }
void set_log_level(LogLevel level) { g_level.store(level); }
LogFormat log_format() { return g_format.load(); }

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);  // bytes >= 0x7f as latin-1 code points
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void log_event(std::string_view level, std::string_view logger, std::string_view message) {
  if (below_level(level)) return;
  std::string line;
  if (g_format.load() == LogFormat::Json) {
    line = "{\"time\": \"" + timestamp() + "\", \"level\": \"" + std::string(level) + "\", \"logger\": \"" +
           std::string(logger) + "\", \"message\": \"" + json_escape(message) + "\"}\n";
  } else {
    line = timestamp() + " " + upper(level) + " " + std::string(logger) + ": " + std::string(message) + "\n";
  }
  write_line(line);
}

}  // namespace squall::log
