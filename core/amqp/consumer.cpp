#include "amqp/consumer.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "log/log.h"
#include "state/metrics_tables.h"

namespace squall::amqp {
namespace {

constexpr int kChannel = 1;

void log(std::string_view level, const std::string& message) { log::log_event(level, "squall.amqp", message); }

std::string to_string(amqp_bytes_t b) { return b.bytes ? std::string(static_cast<const char*>(b.bytes), b.len) : ""; }

// One librabbitmq reply, as a log line ("" when it is a success).
std::string describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "";
    case AMQP_RESPONSE_NONE: return "no reply (missing RPC reply type)";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "the broker closed the connection: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "the broker closed the channel: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text);
      }
      return "unexpected method from the broker";
  }
  return "unknown reply";
}

FieldValue copy_value(const amqp_field_value_t& f);

FieldTable copy_table(const amqp_table_t& t) {
  FieldTable out;
  out.reserve(static_cast<std::size_t>(t.num_entries));
  for (int i = 0; i < t.num_entries; ++i) out.emplace_back(to_string(t.entries[i].key), copy_value(t.entries[i].value));
  return out;
}

FieldValue copy_value(const amqp_field_value_t& f) {
  FieldValue v;
  switch (f.kind) {
    case AMQP_FIELD_KIND_BOOLEAN: v.v = f.value.boolean != 0; break;
    case AMQP_FIELD_KIND_I8: v.v = std::int64_t{f.value.i8}; break;
    case AMQP_FIELD_KIND_U8: v.v = std::int64_t{f.value.u8}; break;
    case AMQP_FIELD_KIND_I16: v.v = std::int64_t{f.value.i16}; break;
    case AMQP_FIELD_KIND_U16: v.v = std::int64_t{f.value.u16}; break;
    case AMQP_FIELD_KIND_I32: v.v = std::int64_t{f.value.i32}; break;
    case AMQP_FIELD_KIND_U32: v.v = std::int64_t{f.value.u32}; break;
    case AMQP_FIELD_KIND_I64: v.v = std::int64_t{f.value.i64}; break;
    case AMQP_FIELD_KIND_U64: v.v = static_cast<std::int64_t>(f.value.u64); break;
    case AMQP_FIELD_KIND_F32: v.v = double{f.value.f32}; break;
    case AMQP_FIELD_KIND_F64: v.v = f.value.f64; break;
    case AMQP_FIELD_KIND_DECIMAL: v.v = Decimal{f.value.decimal.decimals, f.value.decimal.value}; break;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: v.v = to_string(f.value.bytes); break;
    case AMQP_FIELD_KIND_TIMESTAMP: v.v = Timestamp{f.value.u64}; break;
    case AMQP_FIELD_KIND_TABLE: v.v = copy_table(f.value.table); break;
    case AMQP_FIELD_KIND_ARRAY: {
      FieldArray a;
      for (int i = 0; i < f.value.array.num_entries; ++i) a.push_back(copy_value(f.value.array.entries[i]));
      v.v = std::move(a);
      break;
    }
    default: break;  // void
  }
  return v;
}

Properties copy_properties(const amqp_basic_properties_t& p) {
  Properties out;
  auto str = [&](amqp_flags_t flag, amqp_bytes_t b, std::optional<std::string>& to) {
    if (p._flags & flag) to = to_string(b);
  };
  str(AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type, out.content_type);
  str(AMQP_BASIC_CONTENT_ENCODING_FLAG, p.content_encoding, out.content_encoding);
  str(AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id, out.correlation_id);
  str(AMQP_BASIC_REPLY_TO_FLAG, p.reply_to, out.reply_to);
  str(AMQP_BASIC_EXPIRATION_FLAG, p.expiration, out.expiration);
  str(AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id, out.message_id);
  str(AMQP_BASIC_TYPE_FLAG, p.type, out.type);
  str(AMQP_BASIC_USER_ID_FLAG, p.user_id, out.user_id);
  str(AMQP_BASIC_APP_ID_FLAG, p.app_id, out.app_id);
  str(AMQP_BASIC_CLUSTER_ID_FLAG, p.cluster_id, out.cluster_id);
  if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) out.delivery_mode = p.delivery_mode;
  if (p._flags & AMQP_BASIC_PRIORITY_FLAG) out.priority = p.priority;
  if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) out.timestamp = p.timestamp;
  if (p._flags & AMQP_BASIC_HEADERS_FLAG) out.headers = copy_table(p.headers);
  return out;
}

}  // namespace

struct Consumer::Connection {
  amqp_connection_state_t state = amqp_new_connection();
  std::string queue;
  std::string consumer_tag;
  ~Connection() { amqp_destroy_connection(state); }
};

Consumer::Consumer(ConsumerConfig config) : config_(std::move(config)) {
  wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

Consumer::~Consumer() = default;

void Consumer::attach(state::SharedState* state, state::WorkerSlot* slot, metrics::WorkerTables* tables) {
  shared_ = state;
  slot_ = slot;
  tables_ = tables;
  slot_->threads.store(1);
}

void Consumer::handle_signals() {
  signals_ = std::make_unique<net::SignalPipe>(std::vector<int>{SIGTERM, SIGINT, SIGQUIT});
}

void Consumer::set_state(State s) {
  if (!slot_) return;
  slot_->amqp_state.store(static_cast<std::uint32_t>(s), std::memory_order_relaxed);
  slot_->ready.store(s == State::Consuming ? 1 : 0, std::memory_order_release);
}

void Consumer::heartbeat() {
  if (slot_) slot_->heartbeat_ns.store(state::monotonic_ns(), std::memory_order_release);
}

void Consumer::request_stop() {
  stop_.store(true);
  std::uint64_t one = 1;
  ssize_t rc = ::write(wake_.get(), &one, sizeof one);
  (void)rc;
}

void Consumer::on_signals() {
  if (!signals_) return;
  for (const auto& sig : signals_->drain()) {
    if (sig.signo == SIGTERM)
      log("info", "SIGTERM: finishing the current message, then closing the connection");
    else
      log("info", std::string("SIG") + sigabbrev_np(sig.signo) + ": closing the connection");
    stop_.store(true);
  }
}

// ---- the Python thread's side ------------------------------------------------------

std::unique_ptr<Delivery> Consumer::next_delivery() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !pending_.empty() || closed_; });
  if (closed_) return nullptr;
  auto d = std::move(pending_.front());
  pending_.pop_front();
  ++in_handler_;
  if (slot_) {
    // What the master names if this handler outlives --timeout.
    slot_->thread_slots[0].begin("AMQP", d->routing_key, state::monotonic_ns());
    slot_->busy_threads.store(1, std::memory_order_relaxed);
  }
  return d;
}

void Consumer::settle(std::uint64_t generation, std::uint64_t delivery_tag, Verdict verdict, bool failed,
                      double seconds, const std::string& routing_key) {
  if (tables_) metrics::observe_amqp_handler(*tables_, routing_key, seconds, failed);
  {
    std::lock_guard lock(mu_);
    verdicts_.push_back({generation, delivery_tag, verdict, routing_key});
    --in_handler_;
  }
  if (slot_) {
    slot_->thread_slots[0].end();
    slot_->busy_threads.store(0, std::memory_order_relaxed);
    slot_->requests.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t one = 1;
  ssize_t rc = ::write(wake_.get(), &one, sizeof one);
  (void)rc;
}

// ---- the loop ------------------------------------------------------------------------

namespace {

// After a channel-level error the broker has closed the channel: confirm and reopen it.
bool reopen_channel(amqp_connection_state_t st, const amqp_rpc_reply_t& r) {
  if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD) return false;
  amqp_channel_close_ok_t ok{};
  if (amqp_send_method(st, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) return false;
  amqp_channel_open(st, kChannel);
  return amqp_get_rpc_reply(st).reply_type == AMQP_RESPONSE_NORMAL;
}

bool is_not_found(const amqp_rpc_reply_t& r) {
  return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
         static_cast<amqp_channel_close_t*>(r.reply.decoded)->reply_code == AMQP_NOT_FOUND;
}

}  // namespace

bool Consumer::connect() {
  set_state(State::Connecting);
  auto c = std::make_unique<Connection>();
  amqp_connection_state_t st = c->state;
  std::string where = config_.host + ":" + std::to_string(config_.port) + config_.vhost;
  auto fail = [&](const std::string& what, const std::string& why) {
    log("error", "AMQP " + where + ": " + what + " failed: " + why);
    set_state(State::Disconnected);
    return false;
  };
  amqp_socket_t* sock = amqp_tcp_socket_new(st);
  if (!sock) return fail("socket", "out of memory");
  timeval tv{static_cast<time_t>(config_.connect_timeout),
             static_cast<suseconds_t>((config_.connect_timeout - double(time_t(config_.connect_timeout))) * 1e6)};
  amqp_set_handshake_timeout(st, &tv);
  amqp_set_rpc_timeout(st, &tv);
  if (int rc = amqp_socket_open_noblock(sock, config_.host.c_str(), config_.port, &tv); rc != AMQP_STATUS_OK)
    return fail("connect", amqp_error_string2(rc));
  heartbeat();
  amqp_rpc_reply_t r = amqp_login(st, config_.vhost.c_str(), 0, 131072, config_.heartbeat, AMQP_SASL_METHOD_PLAIN,
                                  config_.user.c_str(), config_.password.c_str());
  if (r.reply_type != AMQP_RESPONSE_NORMAL) return fail("login", describe(r));
  amqp_channel_open(st, kChannel);
  if (r = amqp_get_rpc_reply(st); r.reply_type != AMQP_RESPONSE_NORMAL) return fail("channel.open", describe(r));

  // An exchange or queue that exists is used as it is (its durability and
  // arguments, e.g. a dead-letter exchange, are the operator's); one that does
  // not is declared durable.
  amqp_bytes_t exchange = amqp_cstring_bytes(config_.exchange.c_str());
  if (!config_.exchange.empty()) {
    amqp_exchange_declare(st, kChannel, exchange, amqp_cstring_bytes("topic"), 1, 0, 0, 0, amqp_empty_table);
    r = amqp_get_rpc_reply(st);
    if (is_not_found(r)) {
      if (!reopen_channel(st, r)) return fail("channel reopen", describe(amqp_get_rpc_reply(st)));
      amqp_exchange_declare(st, kChannel, exchange, amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
      r = amqp_get_rpc_reply(st);
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) return fail("exchange.declare " + config_.exchange, describe(r));
  }
  if (!config_.queue.empty()) {
    amqp_queue_declare(st, kChannel, amqp_cstring_bytes(config_.queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
    r = amqp_get_rpc_reply(st);
    if (is_not_found(r)) {
      if (!reopen_channel(st, r)) return fail("channel reopen", describe(amqp_get_rpc_reply(st)));
      amqp_table_entry_t dlx;
      amqp_table_t args = amqp_empty_table;
      if (!config_.dead_letter_exchange.empty()) {
        dlx.key = amqp_cstring_bytes("x-dead-letter-exchange");
        dlx.value.kind = AMQP_FIELD_KIND_UTF8;
        dlx.value.value.bytes = amqp_cstring_bytes(config_.dead_letter_exchange.c_str());
        args.num_entries = 1;
        args.entries = &dlx;
      }
      amqp_queue_declare(st, kChannel, amqp_cstring_bytes(config_.queue.c_str()), 0, 1, 0, 0, args);
      r = amqp_get_rpc_reply(st);
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) return fail("queue.declare " + config_.queue, describe(r));
    c->queue = config_.queue;
  } else {
    // A server-named queue only this connection can find: exclusive, deleted with it.
    auto* ok = amqp_queue_declare(st, kChannel, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    r = amqp_get_rpc_reply(st);
    if (r.reply_type != AMQP_RESPONSE_NORMAL || !ok) return fail("queue.declare", describe(r));
    c->queue = to_string(ok->queue);
  }
  amqp_bytes_t queue = amqp_cstring_bytes(c->queue.c_str());
  if (!config_.exchange.empty()) {
    std::vector<std::string> keys = config_.routing_keys;
    if (keys.empty()) keys.push_back(c->queue);  // pika's default for queue_bind
    for (const auto& key : keys) {
      amqp_queue_bind(st, kChannel, queue, exchange, amqp_cstring_bytes(key.c_str()), amqp_empty_table);
      if (r = amqp_get_rpc_reply(st); r.reply_type != AMQP_RESPONSE_NORMAL)
        return fail("queue.bind " + c->queue + " " + key, describe(r));
    }
  }
  amqp_basic_qos(st, kChannel, 0, static_cast<std::uint16_t>(config_.prefetch), 0);
  if (r = amqp_get_rpc_reply(st); r.reply_type != AMQP_RESPONSE_NORMAL) return fail("basic.qos", describe(r));
  auto* ok = amqp_basic_consume(st, kChannel, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  if (r = amqp_get_rpc_reply(st); r.reply_type != AMQP_RESPONSE_NORMAL || !ok)
    return fail("basic.consume", describe(r));
  c->consumer_tag = to_string(ok->consumer_tag);
  // A blocking RPC from here on would stall heartbeats: none is made while consuming.
  ++generation_;
  conn_ = std::move(c);
  log("info", "consuming from queue '" + conn_->queue + "' on " + where + " (prefetch " +
                  std::to_string(config_.prefetch) + ", heartbeat " + std::to_string(config_.heartbeat) + " s)");
  set_state(State::Consuming);
  return true;
}

void Consumer::drop_pending() {
  std::lock_guard lock(mu_);
  pending_.clear();  // unacked: the broker redelivers them when the channel closes
}

void Consumer::disconnect(bool clean) {
  if (!conn_) return;
  if (clean) {
    set_state(State::Closing);
    amqp_channel_close(conn_->state, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_->state, AMQP_REPLY_SUCCESS);
  }
  conn_.reset();
  set_state(State::Disconnected);
}

void Consumer::send_verdicts() {
  std::vector<Settled> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(verdicts_);
  }
  for (const auto& v : batch) {
    if (!conn_ || v.generation != generation_) {
      log("warning", "delivery " + std::to_string(v.tag) + " (" + v.routing_key +
                         ") was settled after its connection was lost: the broker redelivers it");
      continue;
    }
    int rc = v.verdict == Verdict::Ack
                 ? amqp_basic_ack(conn_->state, kChannel, v.tag, 0)
                 : amqp_basic_nack(conn_->state, kChannel, v.tag, 0, v.verdict == Verdict::Requeue ? 1 : 0);
    if (rc != AMQP_STATUS_OK) {
      log("error", std::string("basic.ack/nack failed: ") + amqp_error_string2(rc));
      return;  // the next read notices the broken connection
    }
    if (tables_)
      metrics::record_amqp(*tables_, v.routing_key,
                           v.verdict == Verdict::Ack ? metrics::kAmqpAcked : metrics::kAmqpNacked);
  }
}

bool Consumer::pump() {
  amqp_connection_state_t st = conn_->state;
  for (int i = 0; i < 256; ++i) {
    amqp_maybe_release_buffers(st);
    amqp_envelope_t env;
    timeval zero{0, 0};
    amqp_rpc_reply_t r = amqp_consume_message(st, &env, &zero, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      auto d = std::make_unique<Delivery>();
      d->generation = generation_;
      d->delivery_tag = env.delivery_tag;
      d->redelivered = env.redelivered != 0;
      d->consumer_tag = to_string(env.consumer_tag);
      d->exchange = to_string(env.exchange);
      d->routing_key = to_string(env.routing_key);
      d->body = to_string(env.message.body);
      d->properties = copy_properties(env.message.properties);
      amqp_destroy_envelope(&env);
      if (tables_) metrics::record_amqp(*tables_, d->routing_key, metrics::kAmqpReceived);
      {
        std::lock_guard lock(mu_);
        pending_.push_back(std::move(d));
      }
      cv_.notify_one();
      continue;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // Not a delivery: a method frame (the broker closing, cancelling, ...).
      amqp_frame_t frame;
      int rc = amqp_simple_wait_frame_noblock(st, &frame, &zero);
      if (rc == AMQP_STATUS_TIMEOUT) return true;
      if (rc != AMQP_STATUS_OK) {
        log("error", std::string("AMQP connection lost: ") + amqp_error_string2(rc));
        return false;
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_CHANNEL_CLOSE_METHOD: {
          auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
          log("error",
              "the broker closed the channel: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text));
          amqp_channel_close_ok_t ok{};
          amqp_send_method(st, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
          return false;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
          auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
          log("error",
              "the broker closed the connection: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text));
          amqp_connection_close_ok_t ok{};
          amqp_send_method(st, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
          return false;
        }
        case AMQP_BASIC_CANCEL_METHOD: log("error", "the broker cancelled the consumer (queue deleted?)"); return false;
        default: continue;  // basic.cancel-ok and the like
      }
    }
    log("error", "AMQP connection lost: " + describe(r));
    return false;
  }
  return true;
}

bool Consumer::wait_or_stop(double seconds) {
  std::int64_t until = state::monotonic_ns() + static_cast<std::int64_t>(seconds * 1e9);
  while (!stop_.load()) {
    heartbeat();
    std::int64_t left = until - state::monotonic_ns();
    if (left <= 0) return true;
    pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {signals_ ? signals_->fd() : -1, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left / 1000000 + 1, 100)));
    on_signals();
    std::uint64_t n;
    while (::read(wake_.get(), &n, sizeof n) > 0) {
    }
  }
  return false;
}

int Consumer::run() {
  int status = 0;
  double delay = 0;
  bool first = true;
  heartbeat();
  set_state(State::Disconnected);
  while (!stop_.load()) {
    if (!conn_) {
      if (!first) {
        if (!config_.reconnect) {
          log("error", "not reconnecting (start with --reconnect to retry); exiting");
          status = 1;
          break;
        }
        char buf[96];
        std::snprintf(buf, sizeof buf, "reconnecting in %.0f s", delay);
        log("warning", buf);
        if (!wait_or_stop(delay)) break;
        if (tables_) metrics::record_amqp_connection(*tables_, metrics::kAmqpReconnects);
      }
      first = false;
      if (!connect()) {
        delay = std::min(delay + 1, config_.max_backoff);
        continue;
      }
    }
    heartbeat();
    pollfd fds[3] = {{wake_.get(), POLLIN, 0},
                     {signals_ ? signals_->fd() : -1, POLLIN, 0},
                     {amqp_get_sockfd(conn_->state), POLLIN, 0}};
    bool buffered = amqp_data_in_buffer(conn_->state) || amqp_frames_enqueued(conn_->state);
    int n = ::poll(fds, 3, buffered ? 0 : 100);
    if (n < 0 && errno != EINTR) break;
    std::uint64_t drained;
    while (::read(wake_.get(), &drained, sizeof drained) > 0) {
    }
    on_signals();
    send_verdicts();
    // Reading every tick also sends (and checks) heartbeats when they are due.
    if (!pump()) {
      if (tables_) metrics::record_amqp_connection(*tables_, metrics::kAmqpConnectionLosses);
      disconnect(false);
      drop_pending();
      delay = 0;  // it was consuming: retry at once (then 1, 2, ... s)
    }
  }

  // Shutdown: stop deliveries, let the running handler finish, settle it, close.
  set_state(conn_ ? State::Closing : State::Disconnected);
  if (conn_) {
    amqp_basic_cancel(conn_->state, kChannel, amqp_cstring_bytes(conn_->consumer_tag.c_str()));
    // (a reply error shows up on the next read below)
  }
  drop_pending();
  std::int64_t deadline = state::monotonic_ns() + static_cast<std::int64_t>(config_.graceful_timeout * 1e9);
  for (;;) {
    heartbeat();
    std::size_t running;
    {
      std::lock_guard lock(mu_);
      running = in_handler_;
    }
    if (conn_) {
      send_verdicts();
      if (!pump()) disconnect(false);
      drop_pending();  // deliveries that crossed the cancel: redelivered
    }
    if (running == 0) {
      if (conn_) send_verdicts();
      break;
    }
    if (state::monotonic_ns() > deadline) {
      log("warning", "the handler did not finish within the graceful timeout; its message is redelivered");
      break;
    }
    pollfd fds[1] = {{wake_.get(), POLLIN, 0}};
    ::poll(fds, 1, 50);
    std::uint64_t drained;
    while (::read(wake_.get(), &drained, sizeof drained) > 0) {
    }
  }
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  if (conn_) {
    disconnect(true);
    log("info", "channel and connection closed");
  }
  return status;
}

}  // namespace squall::amqp
