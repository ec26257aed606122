#include "static/static_files.h"

#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <string_view>

#include "http/response.h"
#include "static/conditional.h"
#include "static/file_info.h"
#include "static/path.h"

namespace squall::static_files {
namespace {

constexpr std::uint32_t kYear = 31536000;

std::int64_t monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return ts.tv_sec;
}

std::optional<std::string_view> header(const http::RequestHead& head, std::string_view name) {
  const http::Header* h = head.find(name);
  if (!h) return std::nullopt;
  return std::string_view(h->value);
}

// RFC 9112 9.3: an HTTP/1.0 client keeps the connection only when told so.
void status_line(std::string& out, int status, bool close, bool http10) {
  out += http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http::reason_phrase(status);
  out += "\r\nDate: ";
  out += http::http_date();
  out += "\r\nServer: ";
  out += http::kServerName;
  out += "\r\n";
  if (close) out += "Connection: close\r\n";
  else if (http10) out += "Connection: keep-alive\r\n";
}

void field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

// A response of ours without a file: a short text body (none for HEAD, but
// the same Content-Length, RFC 9110 9.3.2).
Response small(int status, std::string_view extra_fields, bool head_only, bool close, bool http10) {
  std::string body(http::reason_phrase(status));
  body += '\n';
  Response r;
  status_line(r.head, status, close, http10);
  r.head += extra_fields;
  field(r.head, "Content-Type", "text/plain; charset=utf-8");
  field(r.head, "Content-Length", std::to_string(body.size()));
  r.head += "\r\n";
  if (!head_only) r.head += body;
  return r;
}

struct Found {
  net::UniqueFd fd;
  FileMeta meta;
  int root_dir = -1;
  std::string relative;  // under root_dir
};

}  // namespace

StaticFiles::StaticFiles(Config config) : config_(std::move(config)) {
  // The longest prefix first: "/static/admin/" before "/static/".
  std::stable_sort(config_.mounts.begin(), config_.mounts.end(),
                   [](const Mount& a, const Mount& b) { return a.prefix.size() > b.prefix.size(); });
  handles_.resize(config_.mounts.size());
  for (std::size_t i = 0; i < config_.mounts.size(); ++i) handles_[i].resize(config_.mounts[i].roots.size());
}

int StaticFiles::root_fd(std::size_t mount, std::size_t root) {
  RootHandle& h = handles_[mount][root];
  std::int64_t now = monotonic_seconds();
  if (h.opened < 0 || now - h.opened >= kRootHandleSeconds) {
    // O_PATH: a handle to resolve names beneath, never read itself.
    net::UniqueFd fd(::open(config_.mounts[mount].roots[root].dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    h.opened = now;
    h.fd = std::move(fd);  // invalid when the directory is missing: every lookup misses
  }
  return h.fd.get();
}

std::optional<Response> StaticFiles::handle(const http::RequestHead& head, bool close) {
  for (std::size_t m = 0; m < config_.mounts.size(); ++m) {
    const Mount& mount = config_.mounts[m];
    PathResult path = resolve(head.target, mount.prefix);
    if (path.verdict == PathVerdict::NotUnder) continue;
    bool head_only = head.method == "HEAD";
    bool http10 = head.version_minor == 0;
    if (!head_only && head.method != "GET") {
      if (mount.fall_through) return std::nullopt;
      return small(405, "Allow: GET, HEAD\r\n", false, close, http10);  // RFC 9110 15.5.6
    }
    if (path.verdict != PathVerdict::Ok) {
      if (mount.fall_through) return std::nullopt;
      return small(path.verdict == PathVerdict::BadRequest ? 400 : 404, {}, head_only, close, http10);
    }

    Found found;
    for (std::size_t r = 0; r < mount.roots.size() && !found.fd.valid(); ++r) {
      const Root& root = mount.roots[r];
      if (!path.relative.starts_with(root.subprefix) || path.relative.size() == root.subprefix.size()) continue;
      int dir = root_fd(m, r);
      if (dir < 0) continue;
      std::string relative = path.relative.substr(root.subprefix.size());
      net::UniqueFd fd = open_beneath(dir, relative, config_.follow_symlinks);
      if (!fd.valid()) continue;
      auto meta = regular_file_meta(fd.get());
      if (!meta) continue;  // a directory (never listed), a FIFO, a device
      found = Found{std::move(fd), *meta, dir, std::move(relative)};
    }
    if (!found.fd.valid()) {
      if (mount.fall_through) return std::nullopt;
      return small(404, {}, head_only, close, http10);
    }

    std::string_view type = content_type(found.relative);
    bool vary = compressible(type);
    std::string_view encoding;  // RFC 9110 8.4: Content-Encoding of a precompressed sibling
    if (vary) {
      if (auto accept = header(head, "Accept-Encoding")) {
        for (std::string_view coding : {std::string_view("br"), std::string_view("gzip")}) {
          if (!accepts_encoding(*accept, coding)) continue;
          std::string sibling = found.relative + (coding == "br" ? ".br" : ".gz");
          net::UniqueFd fd = open_beneath(found.root_dir, sibling, config_.follow_symlinks);
          if (!fd.valid()) continue;
          auto meta = regular_file_meta(fd.get());
          if (!meta) continue;
          found.fd = std::move(fd);
          found.meta = *meta;
          encoding = coding;
          break;
        }
      }
    }

    std::string etag = make_etag(found.meta, encoding == "gzip" ? "gz" : encoding);
    RequestConditions conditions;
    conditions.method = head.method;
    conditions.if_match = header(head, "If-Match");
    conditions.if_none_match = header(head, "If-None-Match");
    conditions.if_modified_since = header(head, "If-Modified-Since");
    conditions.if_unmodified_since = header(head, "If-Unmodified-Since");
    conditions.range = header(head, "Range");
    conditions.if_range = header(head, "If-Range");
    Decision decision = evaluate(conditions, etag, found.meta.mtime_sec, found.meta.size);

    // Fields every representation of this resource carries (RFC 9110 15.4.5:
    // a 304 repeats the validators, Cache-Control and Vary of the 200).
    std::string common;
    field(common, "ETag", etag);
    field(common, "Last-Modified", format_http_date(found.meta.mtime_sec));
    std::uint32_t max_age = mount.immutable_hashed && has_content_hash(found.relative) ? kYear : config_.max_age;
    field(common, "Cache-Control",
          max_age == kYear ? std::string("max-age=31536000, immutable") : "max-age=" + std::to_string(max_age));
    if (vary) field(common, "Vary", "Accept-Encoding");

    Response r;
    switch (decision.outcome) {
      case Outcome::PreconditionFailed: return small(412, {}, head_only, close, http10);
      case Outcome::RangeNotSatisfiable:
        // RFC 9110 15.5.17: the current length, so the client can ask again.
        return small(416, "Content-Range: bytes */" + std::to_string(found.meta.size) + "\r\n", head_only, close,
                     http10);
      case Outcome::NotModified:
        status_line(r.head, 304, close, http10);
        r.head += common;
        r.head += "\r\n";
        return r;
      case Outcome::Full:
        decision.range = {0, found.meta.size};
        status_line(r.head, 200, close, http10);
        break;
      case Outcome::Partial:
        status_line(r.head, 206, close, http10);
        field(r.head, "Content-Range",
              "bytes " + std::to_string(decision.range.first) + "-" +
                  std::to_string(decision.range.first + decision.range.length - 1) + "/" +
                  std::to_string(found.meta.size));
        break;
    }
    field(r.head, "Content-Type", type);
    if (!encoding.empty()) field(r.head, "Content-Encoding", encoding);
    field(r.head, "Content-Length", std::to_string(decision.range.length));
    field(r.head, "Accept-Ranges", "bytes");
    r.head += common;
    r.head += "\r\n";
    if (!head_only && decision.range.length > 0) {
      r.file = std::move(found.fd);
      r.offset = static_cast<off_t>(decision.range.first);
      r.length = static_cast<std::size_t>(decision.range.length);
    }
    return r;
  }
  return std::nullopt;
}

}  // namespace squall::static_files
