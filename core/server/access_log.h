#pragma once
// The access-log line of a request (squall.access), in the log format set
// with log::set_log_format: text, or one JSON object with the request's fields.
#include <cstdint>
#include <string>

#include "http/request.h"

namespace squall::server {

class Exchange;

void log_access(const Exchange& exchange, double duration_ms);
// The same line for a response the I/O thread answered itself (static files).
void log_access(const std::string& peer, const http::RequestHead& head, int status, std::uint64_t bytes,
                double duration_ms);

}  // namespace squall::server
