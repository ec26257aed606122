#pragma once
// The process-wide logger: lines written by the engine itself, in the formats
// squall/log.py documents: text `2026-11-21T08:50:00.123Z INFO squall.http: ...`
// or one JSON object per line. Each line is one write(2) to stderr, so lines
// from several threads or processes never interleave. The access-log line of
// a request is composed by core/server/access_log.h on top of these.
#include <string>
#include <string_view>

namespace squall::log {

enum class LogFormat { Text, Json };
// --log-level: the lowest level of the engine's own lines (as for the squall
// loggers in Python); access-log lines have their own switch, --access-log.
enum class LogLevel { Debug, Info, Warning, Error };

void set_log_format(LogFormat format);
LogFormat log_format();
void set_log_level(LogLevel level);
// `level`: "debug", "info", "warning", "error" or "critical"; a line below
// the process's --log-level is not written.
void log_event(std::string_view level, std::string_view logger, std::string_view message);

// The pieces a line is made of, for loggers with fields of their own.
std::string timestamp();                   // "2026-11-21T08:50:00.123Z" (UTC, milliseconds)
void write_line(const std::string& line);  // one write(2) to stderr; `line` ends in '\n'
std::string json_escape(std::string_view s);

}  // namespace squall::log
