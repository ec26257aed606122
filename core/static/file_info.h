#pragma once
// What a static response says about its file: Content-Type from the name,
// validators (ETag, Last-Modified; RFC 9110 8.8), Cache-Control (RFC 9111
// 5.2.2), and opening a file without leaving its root.
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "net/fd.h"

namespace squall::static_files {

// The media type for a file name, by its extension (case-insensitive);
// text types carry "; charset=utf-8". Unknown: application/octet-stream.
std::string_view content_type(std::string_view name);

// Worth compressing (text, JavaScript, JSON, SVG, ...): responses for these
// carry Vary: Accept-Encoding, whether or not a .br/.gz sibling exists, so a
// cache never serves one client's choice to another.
bool compressible(std::string_view content_type);

// ManifestStaticFilesStorage names: "app.3f2a9c81b4d0.css" (12 hex digits
// before the extension, or at the end of a name without one).
bool has_content_hash(std::string_view name);

struct FileMeta {
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::int64_t mtime_nsec = 0;
};

// A strong entity tag (RFC 9110 8.8.3): size and modification time to the
// nanosecond, so a file replaced within the same second, even by one of the
// same size, gets a new tag. `variant` ("br", "gz") marks an encoded
// representation: a different one, so a different tag.
std::string make_etag(const FileMeta& meta, std::string_view variant = {});

// IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::int64_t seconds);
// Any of the three formats RFC 9110 5.6.7 tells recipients to accept:
// IMF-fixdate, RFC 850 and asctime. nullopt when it is none of them.
std::optional<std::int64_t> parse_http_date(std::string_view text);

// Opens `relative` (already checked by resolve()) under the directory `root`,
// read-only and non-blocking (a FIFO must never block the I/O thread).
// Unless `follow_symlinks`, a symbolic link may not lead out of the root
// (openat2 RESOLVE_BENEATH; absolute links are refused too). Invalid fd when
// there is no such file or it may not be opened.
net::UniqueFd open_beneath(int root, const std::string& relative, bool follow_symlinks);

// fstat() of an open file: nullopt unless it is a regular file (a directory
// is never listed, a device never read).
std::optional<FileMeta> regular_file_meta(int fd);

}  // namespace squall::static_files
