// Content types, validators, dates and opening beneath a root (core/static/file_info.h).
#include "static/file_info.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

using namespace squall::static_files;

TEST(StaticFileInfo, ContentType) {
  EXPECT_EQ(content_type("css/app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type("APP.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type("img/logo.svg"), "image/svg+xml");
  EXPECT_EQ(content_type("font.woff2"), "font/woff2");
  EXPECT_EQ(content_type("archive"), "application/octet-stream");
  EXPECT_EQ(content_type("dir.css/file"), "application/octet-stream");
  EXPECT_EQ(content_type("file."), "application/octet-stream");
  EXPECT_TRUE(compressible("text/css; charset=utf-8"));
  EXPECT_TRUE(compressible("image/svg+xml"));
  EXPECT_FALSE(compressible("image/png"));
  EXPECT_FALSE(compressible("font/woff2"));  // compressed already
}

TEST(StaticFileInfo, ContentHash) {
  EXPECT_TRUE(has_content_hash("css/app.3f2a9c81b4d0.css"));
  EXPECT_TRUE(has_content_hash("LICENSE.3f2a9c81b4d0"));
  EXPECT_FALSE(has_content_hash("css/app.css"));
  EXPECT_FALSE(has_content_hash("app.3f2a9c81b4d.css"));   // 11 digits
  EXPECT_FALSE(has_content_hash("app.3F2A9C81B4D0.css"));  // Django writes lower case
  EXPECT_FALSE(has_content_hash("3f2a9c81b4d0.css/app"));  // a folder, not the name
  EXPECT_FALSE(has_content_hash(".3f2a9c81b4d0"));
}

TEST(StaticFileInfo, Etag) {
  FileMeta a{10, 1700000000, 5};
  FileMeta b{10, 1700000000, 6};  // same second, same size, replaced
  EXPECT_NE(make_etag(a), make_etag(b));
  EXPECT_NE(make_etag(a), make_etag(a, "br"));
  EXPECT_EQ(make_etag(a).front(), '"');
  EXPECT_EQ(make_etag(a, "gz").back(), '"');
}

TEST(StaticFileInfo, HttpDates) {
  EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), std::nullopt);
  EXPECT_EQ(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date(""), std::nullopt);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"), std::nullopt);
}

class StaticOpen : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/squall-static-XXXXXX";
    base_ = mkdtemp(tmpl);
    root_ = base_ + "/root";
    mkdir(root_.c_str(), 0755);
    mkdir((root_ + "/dir").c_str(), 0755);
    std::ofstream(root_ + "/dir/in.txt") << "inside";
    std::ofstream(base_ + "/secret.txt") << "outside";
    symlink("../secret.txt", (root_ + "/escape").c_str());
    symlink("dir/in.txt", (root_ + "/inner").c_str());
    mkfifo((root_ + "/fifo").c_str(), 0644);
    dir_ = open(root_.c_str(), O_PATH | O_DIRECTORY);
  }
  void TearDown() override {
    close(dir_);
    std::string cmd = "rm -rf '" + base_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string base_, root_;
  int dir_ = -1;
};

TEST_F(StaticOpen, StaysBeneathTheRoot) {
  EXPECT_TRUE(open_beneath(dir_, "dir/in.txt", false).valid());
  EXPECT_TRUE(open_beneath(dir_, "inner", false).valid());    // a link inside the root
  EXPECT_FALSE(open_beneath(dir_, "escape", false).valid());  // a link out of it
  EXPECT_FALSE(open_beneath(dir_, "../secret.txt", false).valid());
  EXPECT_FALSE(open_beneath(dir_, "missing", false).valid());
  EXPECT_TRUE(open_beneath(dir_, "escape", true).valid());  // --static-follow-symlinks
}

TEST_F(StaticOpen, OnlyRegularFiles) {
  auto file = open_beneath(dir_, "dir/in.txt", false);
  auto meta = regular_file_meta(file.get());
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->size, 6u);
  auto dir = open_beneath(dir_, "dir", false);
  ASSERT_TRUE(dir.valid());
  EXPECT_FALSE(regular_file_meta(dir.get()));
  auto fifo = open_beneath(dir_, "fifo", false);  // opened without blocking
  ASSERT_TRUE(fifo.valid());
  EXPECT_FALSE(regular_file_meta(fifo.get()));
}
