#pragma once
// Static and media files answered by the I/O thread, without Python
// (docs/static-files.md). on_head asks handle() first: a response comes back
// as head bytes plus a file range that the connection sends with sendfile(2),
// or nothing, and the request goes to the application as usual.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "http/request.h"
#include "net/fd.h"

namespace squall::static_files {

struct Root {
  std::string subprefix;  // "" or "admin/": only names under it come from this root (a finder's prefix)
  std::string dir;        // absolute directory
};

struct Mount {
  std::string prefix;             // "/static/": a path, with its trailing slash
  std::vector<Root> roots;        // searched in order; the first regular file wins
  bool fall_through = false;      // media: anything but a file found goes to the application
  bool immutable_hashed = false;  // static: content-hashed names are cached for a year
  // Relative paths under one of these ("invoices/") are never served: they go to
  // the application, which checks its permissions (--media-private).
  std::vector<std::string> private_prefixes;
};

struct Config {
  std::vector<Mount> mounts;
  std::uint32_t max_age = 3600;   // s, Cache-Control of names without a content hash
  bool follow_symlinks = false;   // symbolic links may lead out of the root
};

struct Response {
  int status = 200;
  std::string head;    // status line, fields, blank line (and a short error body): http::serialize

  net::UniqueFd file;  // the body, when valid: `length` bytes from `offset`
  off_t offset = 0;
  std::size_t length = 0;
};

class StaticFiles {
 public:
  explicit StaticFiles(Config config);
  // nullopt: not under a mount, or a media miss: the application answers.
  // `close`: the response says Connection: close.
  std::optional<Response> handle(const http::RequestHead& head, bool close);

  // How long a root directory's handle is kept: a directory replaced (a new
  // release swapped in by rename) is seen within this. Files themselves are
  // opened and fstat()ed on every request: nothing about them is cached.
  static constexpr std::int64_t kRootHandleSeconds = 1;

 private:
  struct RootHandle {
    net::UniqueFd fd;
    std::int64_t opened = -1;  // monotonic second; -1: never
  };
  int root_fd(std::size_t mount, std::size_t root);

  Config config_;
  std::vector<std::vector<RootHandle>> handles_;  // [mount][root]
};

}  // namespace squall::static_files
