#pragma once
// The AMQP consumer (`manage.py consume`, docs/amqp.md): a RabbitMQ
// connection on librabbitmq, owned by one C++ loop thread (the consumer
// process's main thread, GIL released). The loop connects, declares and binds,
// consumes with basic.qos prefetch, keeps heartbeats going (so a long handler
// never kills the connection), and reconnects with backoff. Deliveries go to
// the Python thread through a queue; the Python thread's verdict (ack / nack)
// comes back through another queue and is sent by the loop, the only thread
// that ever touches the connection.
//
// Delivery tags are per channel: each connection has a generation, and a
// verdict for a delivery of an older generation is dropped (the broker has
// already requeued that message when the channel closed: at-least-once).
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "net/fd.h"
#include "net/signal_pipe.h"
#include "state/shared_state.h"

namespace squall::metrics {
struct WorkerTables;
}

namespace squall::amqp {

struct ConsumerConfig {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  std::string queue;                      // "" = a server-named queue
  std::string exchange;                   // "" = the default exchange (no declare, no bind)
  std::vector<std::string> routing_keys;  // empty: bind with the queue's name (as pika does)
  std::string dead_letter_exchange;       // set: failures are dead-lettered, not requeued
  int prefetch = 1;
  int heartbeat = 30;            // s, negotiated with the broker
  double connect_timeout = 5;    // s
  bool reconnect = false;        // else: exit 1 when the connection is lost
  double graceful_timeout = 20;  // s: SIGTERM waits this long for the running handler
  double max_backoff = 30;       // s between reconnect attempts (0, 1, 2, ... this)
};

// A header or table value, copied out of librabbitmq's pools.
struct FieldValue;
using FieldTable = std::vector<std::pair<std::string, FieldValue>>;
using FieldArray = std::vector<FieldValue>;
struct Decimal {
  std::uint8_t decimals;
  std::uint32_t value;
};
struct Timestamp {
  std::uint64_t seconds;
};
struct FieldValue {
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Decimal, Timestamp, FieldTable, FieldArray> v;
};

struct Properties {
  std::optional<std::string> content_type, content_encoding, correlation_id, reply_to, expiration, message_id, type,
      user_id, app_id, cluster_id;
  std::optional<std::uint8_t> delivery_mode, priority;
  std::optional<std::uint64_t> timestamp;
  std::optional<FieldTable> headers;
};

struct Delivery {
  std::uint64_t generation = 0;  // the connection it came on
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string consumer_tag, exchange, routing_key, body;
  Properties properties;
};

enum class Verdict { Ack, Requeue, Reject };  // Reject: nack without requeue (dead-lettered with a DLX)

// The connection's life, in the worker slot (squall_amqp_connection_state).
using State = state::AmqpState;  // declared with its metric label values in state/

class Consumer {
 public:
  explicit Consumer(ConsumerConfig config);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Report heartbeat, readiness (consuming) and the running handler in `slot`.
  void attach(state::SharedState* state, state::WorkerSlot* slot, metrics::WorkerTables* tables);
  // Take SIGTERM (finish the current message, close cleanly), SIGINT and SIGQUIT.
  void handle_signals();

  // Runs the loop until shutdown; the exit status (0 after SIGTERM, 1 when
  // the connection failed without reconnect).
  int run();
  void request_stop();  // thread-safe, graceful

  // The Python thread: the next delivery (blocks), nullptr once stopping.
  std::unique_ptr<Delivery> next_delivery();
  // The Python thread's verdict on the delivery it took; `failed`: the
  // handler raised. `seconds`: how long the handler ran.
  void settle(std::uint64_t generation, std::uint64_t delivery_tag, Verdict verdict, bool failed, double seconds,
              const std::string& routing_key);

 private:
  struct Connection;
  bool connect();  // false: failed (logged)
  void disconnect(bool clean);
  bool pump();  // reads what the broker sent; false: the connection is lost
  void send_verdicts();
  void on_signals();
  void set_state(State s);
  void heartbeat();
  void drop_pending();                // deliveries not yet handed out: the broker requeues them
  bool wait_or_stop(double seconds);  // sleeps (heartbeating) unless asked to stop; false: stop

  ConsumerConfig config_;
  std::unique_ptr<Connection> conn_;
  std::uint64_t generation_ = 0;
  std::unique_ptr<net::SignalPipe> signals_;
  net::UniqueFd wake_;  // eventfd: verdicts or a stop request are waiting
  state::SharedState* shared_ = nullptr;
  state::WorkerSlot* slot_ = nullptr;
  metrics::WorkerTables* tables_ = nullptr;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Delivery>> pending_;  // for the Python thread
  struct Settled {
    std::uint64_t generation, tag;
    Verdict verdict;
    std::string routing_key;
  };
  std::vector<Settled> verdicts_;
  std::size_t in_handler_ = 0;  // handed to Python, no verdict yet
  bool closed_ = false;         // no more deliveries for Python
  std::atomic<bool> stop_{false};
  bool stopping_ = false;
};

}  // namespace squall::amqp
