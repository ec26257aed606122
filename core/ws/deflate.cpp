#include "ws/deflate.h"

#include <zlib.h>

#include <cstring>

namespace squall::ws {

struct Deflater::State {
  z_stream z{};
};

struct Inflater::State {
  z_stream z{};
};

Deflater::Deflater(int level, int window_bits, int mem_level, bool no_context_takeover)
    : level_(level), window_bits_(window_bits), mem_level_(mem_level), no_context_takeover_(no_context_takeover) {}

Deflater::~Deflater() {
  if (z_) deflateEnd(&z_->z);
  delete z_;
}

bool Deflater::compress(std::string_view message, std::string& out) {
  if (!z_) {
    z_ = new State;
    // Negative window bits: raw deflate, no zlib header (RFC 7692 7.2.1).
    if (deflateInit2(&z_->z, level_, Z_DEFLATED, -window_bits_, mem_level_, Z_DEFAULT_STRATEGY) != Z_OK) {
      delete z_;
      z_ = nullptr;
      return false;
    }
  }
  z_stream& z = z_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  const std::size_t start = out.size();
  // Z_SYNC_FLUSH ends the output on a byte boundary with an empty stored
  // block, 00 00 ff ff, which is stripped.
  for (;;) {
    const std::size_t before = out.size();
    const std::size_t room = deflateBound(&z, z.avail_in) + 16;
    out.resize(before + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, Z_SYNC_FLUSH);
    out.resize(before + (room - z.avail_out));
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    if (z.avail_in == 0 && z.avail_out > 0) break;
  }
  if (out.size() - start >= 4 && std::memcmp(out.data() + out.size() - 4, "\x00\x00\xff\xff", 4) == 0)
    out.resize(out.size() - 4);
  if (out.size() == start) out.push_back('\0');  // an empty message: one empty block (RFC 7692 7.2.3.6)
  if (no_context_takeover_) {
    deflateEnd(&z);
    delete z_;
    z_ = nullptr;
  }
  return true;
}

Inflater::Inflater(bool no_context_takeover) : no_context_takeover_(no_context_takeover) {}

Inflater::~Inflater() {
  if (z_) inflateEnd(&z_->z);
  delete z_;
}

Inflater::Result Inflater::inflate(std::string_view compressed, std::string& out, std::uint64_t limit) {
  if (!z_) {
    z_ = new State;
    // 15: a window at least as large as any the client may use.
    if (inflateInit2(&z_->z, -15) != Z_OK) {
      delete z_;
      z_ = nullptr;
      return Result::Invalid;
    }
  }
  z_stream& z = z_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  constexpr std::size_t kChunk = 16384;
  for (;;) {
    const std::size_t before = out.size();
    out.resize(before + kChunk);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.avail_out = kChunk;
    const int rc = ::inflate(&z, Z_SYNC_FLUSH);
    out.resize(before + (kChunk - z.avail_out));
    if (out.size() > limit) return Result::TooBig;
    if (rc == Z_STREAM_END) {
      // A block with BFINAL set: the next one starts a new stream.
      inflateReset(&z);
      if (z.avail_in == 0) return Result::Ok;
      continue;
    }
    if (rc == Z_BUF_ERROR) return Result::Ok;  // needs more input
    if (rc != Z_OK) return Result::Invalid;
    if (z.avail_in == 0 && z.avail_out > 0) return Result::Ok;
  }
}

Inflater::Result Inflater::finish(std::string& out, std::uint64_t limit) {
  static constexpr char kTail[4] = {'\x00', '\x00', '\xff', '\xff'};
  const Result r = inflate(std::string_view(kTail, 4), out, limit);
  if (no_context_takeover_ && z_) {
    inflateEnd(&z_->z);
    delete z_;
    z_ = nullptr;
  }
  return r;
}

}  // namespace squall::ws
