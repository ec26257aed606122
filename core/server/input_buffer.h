#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace squall::server {

// Bytes read from a socket and not parsed yet. Grows by doubling; reading
// reuses the space in front once everything before it was consumed.
class InputBuffer {
 public:
  std::string_view unread() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Room for at least `n` more bytes at the returned pointer (then commit()).
  char* prepare(std::size_t n) {
    if (capacity_ - end_ < n) {
      if (begin_ > 0) {
        std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (capacity_ - end_ < n) {
        std::size_t cap = capacity_ ? capacity_ : n;
        while (cap - end_ < n) cap *= 2;
        auto bigger = std::make_unique<char[]>(cap);
        if (end_) std::memcpy(bigger.get(), data_.get(), end_);
        data_ = std::move(bigger);
        capacity_ = cap;
      }
    }
    return data_.get() + end_;
  }
  void commit(std::size_t n) { end_ += n; }
  // Frees the memory (a connection that no longer parses HTTP: a WebSocket).
  void release() {
    data_.reset();
    capacity_ = begin_ = end_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
};

}  // namespace squall::server
