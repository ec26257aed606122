// Request path -> file name under a static root (core/static/path.h): the
// traversal table. Every attempt ends NotFound (404) or BadRequest (400).
#include "static/path.h"

#include <gtest/gtest.h>

#include <string>

using namespace squall::static_files;

namespace {

PathResult at(const std::string& target) { return resolve(target, "/static/"); }

}  // namespace

TEST(StaticPath, PlainNamesResolve) {
  EXPECT_EQ(at("/static/css/app.css").relative, "css/app.css");
  EXPECT_EQ(at("/static/css/app.css").verdict, PathVerdict::Ok);
  EXPECT_EQ(at("/static/app.css?v=3").relative, "app.css");
  EXPECT_EQ(at("/static/a%20b.txt").relative, "a b.txt");
  EXPECT_EQ(at("/static/caf%C3%A9.png").relative, "caf\xC3\xA9.png");
  EXPECT_EQ(at("/static/caf\xC3\xA9.png").relative, "caf\xC3\xA9.png");  // raw UTF-8 (obs-text): the same file
  EXPECT_EQ(at("http://example.com/static/x.js").relative, "x.js");  // absolute-form (RFC 9112 3.2.2)
  EXPECT_EQ(at("/static/%252e%252e/x").relative, "%2e%2e/x");  // decoded once: a literal name
}

TEST(StaticPath, OtherPathsAreNotOurs) {
  for (const char* target : {"/", "/staticx/a.css", "/stati", "/api/static/a.css", "*", "/static"})
    EXPECT_EQ(at(target).verdict, PathVerdict::NotUnder) << target;
}

TEST(StaticPath, TraversalTable) {
  struct Case {
    const char* target;
    PathVerdict expected;
  };
  const Case cases[] = {
      {"/static/../settings.py", PathVerdict::NotFound},
      {"/static/css/../../settings.py", PathVerdict::NotFound},
      {"/static/..", PathVerdict::NotFound},
      {"/static/./app.css", PathVerdict::NotFound},
      {"/static/%2e%2e/settings.py", PathVerdict::NotFound},
      {"/static/%2E%2E/settings.py", PathVerdict::NotFound},
      {"/static/.%2e/settings.py", PathVerdict::NotFound},
      {"/static/..%2fsettings.py", PathVerdict::NotFound},
      {"/static/..%2F..%2Fetc%2Fpasswd", PathVerdict::NotFound},
      {"/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", PathVerdict::NotFound},
      {"/static/..\\settings.py", PathVerdict::NotFound},
      {"/static/..%5csettings.py", PathVerdict::NotFound},
      {"/static/css%5c..%5c..%5csettings.py", PathVerdict::NotFound},
      {"/static//etc/passwd", PathVerdict::NotFound},
      {"/static/css//app.css", PathVerdict::NotFound},
      {"/static/%2fetc/passwd", PathVerdict::NotFound},
      {"/static/", PathVerdict::NotFound},
      {"/static/css/", PathVerdict::NotFound},
      {"/static/.env", PathVerdict::NotFound},
      {"/static/.git/config", PathVerdict::NotFound},
      {"/static/css/.hidden", PathVerdict::NotFound},
      {"/static/%2eenv", PathVerdict::NotFound},
      {"/static%2f..%2fsettings.py", PathVerdict::NotFound},
      {"/static/app.css%00.png", PathVerdict::BadRequest},
      {"/static/%00", PathVerdict::BadRequest},
      {"/static/a%0d%0aSet-Cookie:x", PathVerdict::BadRequest},
      {"/static/%", PathVerdict::BadRequest},
      {"/static/%2", PathVerdict::BadRequest},
      {"/static/%zz", PathVerdict::BadRequest},
      {"/static/%%32%65", PathVerdict::BadRequest},
  };
  for (const Case& c : cases) {
    PathResult r = at(c.target);
    EXPECT_EQ(r.verdict, c.expected) << c.target;
    EXPECT_TRUE(r.relative.empty()) << c.target;
  }
}

TEST(StaticPath, PercentDecode) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%41%6a", out));
  EXPECT_EQ(out, "aAj");
  EXPECT_FALSE(percent_decode("%4", out));
  EXPECT_FALSE(percent_decode("%g0", out));
  EXPECT_TRUE(percent_decode("", out));
  EXPECT_EQ(out, "");
}

TEST(StaticPath, TargetPath) {
  EXPECT_EQ(target_path("/a/b?c=d"), "/a/b");
  EXPECT_EQ(target_path("https://h:1/x?y"), "/x");
  EXPECT_EQ(target_path("https://h"), "");
  EXPECT_EQ(target_path("*"), "");
}
