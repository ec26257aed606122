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

// A head of ours; the serializer adds Server, Date and Connection (an
// HTTP/1.0 client is answered in HTTP/1.0, "keep-alive" when kept).
http::ResponseHead new_head(int status, bool close, bool http10) {
  http::ResponseHead h;
  h.status = status;
  h.version_minor = http10 ? 0 : 1;
  h.keep_alive = !close;
  return h;
}

// A response of ours without a file: a short text body (none for HEAD, but
// the same Content-Length, RFC 9110 9.3.2).
Response small(int status, std::vector<std::pair<std::string, std::string>> extra_fields, bool head_only, bool close,
               bool http10) {
  std::string body(http::reason_phrase(status));
  body += '\n';
  http::ResponseHead h = new_head(status, close, http10);
  h.fields = std::move(extra_fields);
  h.add("Content-Type", "text/plain; charset=utf-8");
  Response r;
  r.status = status;
  r.head = http::text_response(std::move(h), body, head_only);
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
    if (path.verdict == PathVerdict::Ok &&
        std::ranges::any_of(mount.private_prefixes, [&](const std::string& p) { return path.relative.starts_with(p); }))
      return std::nullopt;  // a private prefix: the application decides
    bool head_only = head.method == "HEAD";
    bool http10 = head.version_minor == 0;
    if (!head_only && head.method != "GET") {
      if (mount.fall_through) return std::nullopt;
      return small(405, {{"Allow", "GET, HEAD"}}, false, close, http10);  // RFC 9110 15.5.6
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
    std::vector<std::pair<std::string, std::string>> common;
    common.emplace_back("ETag", etag);
    common.emplace_back("Last-Modified", format_http_date(found.meta.mtime_sec));
    std::uint32_t max_age = mount.immutable_hashed && has_content_hash(found.relative) ? kYear : config_.max_age;
    common.emplace_back("Cache-Control",
                        max_age == kYear ? std::string("max-age=31536000, immutable") : "max-age=" + std::to_string(max_age));
    if (vary) common.emplace_back("Vary", "Accept-Encoding");

    Response r;
    http::ResponseHead h;
    switch (decision.outcome) {
      case Outcome::PreconditionFailed: return small(412, {}, head_only, close, http10);
      case Outcome::RangeNotSatisfiable:
        // RFC 9110 15.5.17: the current length, so the client can ask again.
        return small(416, {{"Content-Range", "bytes */" + std::to_string(found.meta.size)}}, head_only, close, http10);
      case Outcome::NotModified:
        h = new_head(304, close, http10);
        h.fields = std::move(common);
        r.status = 304;
        r.head = http::serialize(h);
        return r;
      case Outcome::Full:
        decision.range = {0, found.meta.size};
        h = new_head(200, close, http10);
        break;
      case Outcome::Partial:
        h = new_head(206, close, http10);
        h.add("Content-Range", "bytes " + std::to_string(decision.range.first) + "-" +
                                   std::to_string(decision.range.first + decision.range.length - 1) + "/" +
                                   std::to_string(found.meta.size));
        break;
    }
    h.add("Content-Type", type);
    if (!encoding.empty()) h.add("Content-Encoding", encoding);
    h.add("Accept-Ranges", "bytes");
    for (auto& f : common) h.fields.push_back(std::move(f));
    h.content_length = decision.range.length;
    r.status = h.status;
    r.head = http::serialize(h);
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
