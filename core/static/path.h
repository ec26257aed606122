#pragma once
// Request path -> a file name relative to a static root, or a refusal. Pure:
// no file system access (the open itself stays beneath the root, see
// file_info.h). RFC 3986 2.1 / 3.3: the path is percent-decoded exactly once.
#include <string>
#include <string_view>

namespace squall::static_files {

enum class PathVerdict {
  Ok,          // `relative` names a candidate file
  NotUnder,    // the path is not under the mount's prefix: not ours
  BadRequest,  // malformed: bad percent-encoding, NUL or another control character
  NotFound,    // traversal, dotfile, directory, backslash: never a file we serve
};

struct PathResult {
  PathVerdict verdict = PathVerdict::NotUnder;
  std::string relative;  // "css/app.css": no leading slash, no "." or ".." segment
};

// The path of a request-target (origin-form or absolute-form), query removed,
// still percent-encoded. "" when the target has no path we could serve.
std::string_view target_path(std::string_view target);

// Percent-decodes `encoded` into `out`. False on a malformed escape ("%G1",
// "%4"); RFC 3986 2.1.
bool percent_decode(std::string_view encoded, std::string& out);

// The file name under `prefix` ("/static/", with its trailing slash) that the
// request-target asks for. Every segment is checked after decoding, so
// "%2e%2e", "..%2f" and "%5c" are seen for what they are; a double-encoded
// "%252e" decodes once to the harmless literal name "%2e".
PathResult resolve(std::string_view target, std::string_view prefix);

}  // namespace squall::static_files
