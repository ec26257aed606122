#include "static/path.h"

namespace squall::static_files {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view target_path(std::string_view target) {
  // RFC 9112 3.2.2: absolute-form ("http://host/path") is accepted by servers.
  if (!target.empty() && target.front() != '/') {
    std::size_t scheme = target.find("://");
    if (scheme == std::string_view::npos) return {};
    std::size_t slash = target.find('/', scheme + 3);
    if (slash == std::string_view::npos) return {};
    target.remove_prefix(slash);
  }
  std::size_t query = target.find_first_of("?#");
  return query == std::string_view::npos ? target : target.substr(0, query);
}

bool percent_decode(std::string_view encoded, std::string& out) {
  out.clear();
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    char c = encoded[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= encoded.size()) return false;
    int hi = hex_value(encoded[i + 1]);
    int lo = hex_value(encoded[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

PathResult resolve(std::string_view target, std::string_view prefix) {
  PathResult result;
  std::string_view raw = target_path(target);
  if (raw.empty()) return result;
  std::string decoded;
  if (!percent_decode(raw, decoded)) {
    // A malformed escape under the prefix is ours to refuse; elsewhere it is
    // the application's business.
    if (raw.starts_with(prefix)) result.verdict = PathVerdict::BadRequest;
    return result;
  }
  if (!std::string_view(decoded).starts_with(prefix)) return result;
  std::string_view rest = std::string_view(decoded).substr(prefix.size());
  for (unsigned char c : rest) {
    if (c < 0x20 || c == 0x7f) {  // NUL and other controls: no file name has them
      result.verdict = PathVerdict::BadRequest;
      return result;
    }
  }
  result.verdict = PathVerdict::NotFound;
  if (rest.empty() || rest.find('\\') != std::string_view::npos) return result;
  // Every segment must be a plain name: not empty ("a//b", "dir/": no
  // listing), not starting with a dot (".", "..", ".env", ".git").
  std::size_t start = 0;
  while (start <= rest.size()) {
    std::size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view segment = rest.substr(start, end - start);
    if (segment.empty() || segment.front() == '.') return result;
    start = end + 1;
  }
  result.verdict = PathVerdict::Ok;
  result.relative.assign(rest);
  return result;
}

}  // namespace squall::static_files
