#pragma once
// Log lines written by the engine itself, in the formats squall/log.py
// documents: text `2026-11-21T08:50:00.123Z INFO squall.access: ...` or one
// JSON object per line. Each line is one write(2) to stderr, so lines from
// several threads or processes never interleave.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.h"
#include "server/config.h"

namespace squall::server {

class Exchange;

void set_log_format(LogFormat format);
void log_event(std::string_view level, std::string_view logger, std::string_view message);
void log_access(const Exchange& exchange, double duration_ms);
// The same line for a response the I/O thread answered itself (static files).
void log_access(const std::string& peer, const http::RequestHead& head, int status, std::uint64_t bytes,
                double duration_ms);

std::string json_escape(std::string_view s);

}  // namespace squall::server
