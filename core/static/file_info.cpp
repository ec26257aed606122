#include "static/file_info.h"
#include "http/request.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

namespace squall::static_files {
namespace {

// What Django's mimetypes and nginx's mime.types agree on for web assets.
constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"eot", "application/vnd.ms-fontobject"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"br", "application/x-brotli"},
    {"tar", "application/x-tar"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"wav", "audio/wav"},
    {"flac", "audio/flac"},
    {"mp4", "video/mp4"},
    {"m4v", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mov", "video/quicktime"},
    {"avi", "video/x-msvideo"},
    {"doc", "application/msword"},
    {"xls", "application/vnd.ms-excel"},
    {"rtf", "application/rtf"},
};

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int month_index(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool literal(std::string_view s, std::size_t& pos, std::string_view lit) {
  if (s.substr(pos, lit.size()) != lit) return false;
  pos += lit.size();
  return true;
}

bool clock_time(std::string_view s, std::size_t& pos, std::tm& tm) {
  return digits(s, pos, 2, tm.tm_hour) && literal(s, pos, ":") && digits(s, pos, 2, tm.tm_min) &&
         literal(s, pos, ":") && digits(s, pos, 2, tm.tm_sec);
}

bool month(std::string_view s, std::size_t& pos, std::tm& tm) {
  if (pos + 3 > s.size()) return false;
  tm.tm_mon = month_index(s.substr(pos, 3));
  pos += 3;
  return tm.tm_mon >= 0;
}

}  // namespace

std::string_view content_type(std::string_view name) {
  std::size_t slash = name.rfind('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  std::size_t dot = base.rfind('.');
  if (dot != std::string_view::npos) {
    std::string_view ext = base.substr(dot + 1);
    for (const auto& [e, type] : kTypes)
      if (http::iequals(e, ext)) return type;
  }
  return "application/octet-stream";
}

bool compressible(std::string_view type) {
  return type.starts_with("text/") || type.find("javascript") != std::string_view::npos ||
         type.find("json") != std::string_view::npos || type.find("xml") != std::string_view::npos ||
         type == "application/wasm" || type == "font/ttf" || type == "font/otf" || type == "image/vnd.microsoft.icon" ||
         type == "image/bmp" || type == "application/vnd.ms-fontobject";
}

bool has_content_hash(std::string_view name) {
  std::size_t slash = name.rfind('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  std::size_t last = base.rfind('.');
  if (last == std::string_view::npos || last == 0) return false;
  // "name.<hash>" without an extension.
  std::string_view tail = base.substr(last + 1);
  if (tail.size() == 12 && is_lower_hex(tail)) return true;
  std::size_t prev = base.rfind('.', last - 1);
  if (prev == std::string_view::npos || prev == 0) return false;
  std::string_view middle = base.substr(prev + 1, last - prev - 1);
  return middle.size() == 12 && is_lower_hex(middle);
}

std::string make_etag(const FileMeta& meta, std::string_view variant) {
  char buf[96];
  int n =
      std::snprintf(buf, sizeof buf, "\"%llx-%llx%08llx", static_cast<unsigned long long>(meta.size),
                    static_cast<unsigned long long>(meta.mtime_sec), static_cast<unsigned long long>(meta.mtime_nsec));
  std::string tag(buf, static_cast<std::size_t>(n));
  if (!variant.empty()) {
    tag += '-';
    tag += variant;
  }
  tag += '"';
  return tag;
}

std::string format_http_date(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                        kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<std::int64_t> parse_http_date(std::string_view s) {
  std::tm tm{};
  std::size_t pos = 0;
  std::size_t comma = s.find(',');
  bool ok = false;
  if (comma == 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    pos = 4;
    int year = 0;
    ok = literal(s, pos, " ") && digits(s, pos, 2, tm.tm_mday) && literal(s, pos, " ") && month(s, pos, tm) &&
         literal(s, pos, " ") && digits(s, pos, 4, year) && literal(s, pos, " ") && clock_time(s, pos, tm) &&
         literal(s, pos, " GMT") && pos == s.size();
    tm.tm_year = year - 1900;
  } else if (comma != std::string_view::npos && comma > 3) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years per RFC 9110 5.6.7.
    pos = comma + 1;
    int year = 0;
    ok = literal(s, pos, " ") && digits(s, pos, 2, tm.tm_mday) && literal(s, pos, "-") && month(s, pos, tm) &&
         literal(s, pos, "-") && digits(s, pos, 2, year) && literal(s, pos, " ") && clock_time(s, pos, tm) &&
         literal(s, pos, " GMT") && pos == s.size();
    tm.tm_year = year < 70 ? year + 100 : year;
  } else if (comma == std::string_view::npos && s.size() == 24) {
    // asctime: "Sun Nov  6 08:49:37 1994"
    pos = 4;
    int year = 0;
    ok = month(s, pos, tm) && literal(s, pos, " ");
    if (ok && s[pos] == ' ') {
      ++pos;
      ok = digits(s, pos, 1, tm.tm_mday);
    } else if (ok) {
      ok = digits(s, pos, 2, tm.tm_mday);
    }
    ok = ok && literal(s, pos, " ") && clock_time(s, pos, tm) && literal(s, pos, " ") && digits(s, pos, 4, year) &&
         pos == s.size();
    tm.tm_year = year - 1900;
  }
  if (!ok || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

net::UniqueFd open_beneath(int root, const std::string& relative, bool follow_symlinks) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  // RESOLVE_NO_MAGICLINKS: never through /proc/self/fd-style links.
  how.resolve = RESOLVE_NO_MAGICLINKS | (follow_symlinks ? 0 : RESOLVE_BENEATH);
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return net::UniqueFd(static_cast<int>(fd));
}

std::optional<FileMeta> regular_file_meta(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileMeta{static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtim.tv_sec),
                  static_cast<std::int64_t>(st.st_mtim.tv_nsec)};
}

}  // namespace squall::static_files
