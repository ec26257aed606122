// The typed objects of the Python boundary (squall/_core.pyi): the engine's
// config structs, built by squall/ from squall.options.Config, and the enums
// and named results the engine hands back.
#include "python/config_types.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <utility>
#include <vector>

#include "amqp/consumer.h"
#include "log/log.h"
#include "master/master.h"
#include "metrics/exposition.h"
#include "probe/policy.h"
#include "python/amqp_delivery.h"
#include "python/strict_struct.h"
#include "server/config.h"
#include "state/shared_state.h"
#include "static/static_files.h"

namespace squall::python {
namespace {

void bind_enums(nb::module_& m) {
  nb::enum_<log::LogFormat>(m, "LogFormat", "--log-format: the engine's log lines")
      .value("text", log::LogFormat::Text)
      .value("json", log::LogFormat::Json);
  nb::enum_<log::LogLevel>(m, "LogLevel", "--log-level of the engine's own lines")
      .value("debug", log::LogLevel::Debug)
      .value("info", log::LogLevel::Info)
      .value("warning", log::LogLevel::Warning)
      .value("error", log::LogLevel::Error);
  nb::enum_<master::Role>(m, "Role", "What a process is when Master.run() returns")
#define SQUALL_X(e, name) .value(name, master::Role::e)
      SQUALL_ROLES(SQUALL_X);
#undef SQUALL_X
  nb::enum_<state::ProbeBit>(m, "ProbeBit", "The probes a health-check result feeds", nb::is_flag(),
                             nb::is_arithmetic())
      .value("startup", state::kStartupBit)
      .value("readiness", state::kReadinessBit)
      .value("liveness", state::kLivenessBit);
  nb::enum_<amqp::Verdict>(m, "Verdict", "A handler's verdict on an AMQP delivery")
      .value("ack", amqp::Verdict::Ack)
      .value("requeue", amqp::Verdict::Requeue)
      .value("reject", amqp::Verdict::Reject);
}

void bind_server_config(nb::module_& m) {
  StrictStruct<http::Limits>(m, "Limits", "Request size limits (413, 414, 431)")
      .field("max_request_line", &http::Limits::max_request_line)
      .field("max_header_bytes", &http::Limits::max_header_bytes)
      .field("max_header_count", &http::Limits::max_header_count)
      .field("max_body_size", &http::Limits::max_body_bytes)
      .bind();

  StrictStruct<probe::ProbeConfig>(m, "ProbeConfig", "The probes' paths and limits")
      .field("startup_path", &probe::ProbeConfig::startup_path)
      .field("readiness_path", &probe::ProbeConfig::readiness_path)
      .field("liveness_path", &probe::ProbeConfig::liveness_path)
      .field("req_queue_len", &probe::ProbeConfig::req_queue_len)
      .field("heartbeat_timeout", &probe::ProbeConfig::heartbeat_timeout)
      .field("timeout_grace", &probe::ProbeConfig::timeout_grace)
      .field("check_interval", &probe::ProbeConfig::check_interval)
      .bind();

  StrictStruct<metrics::MetricsConfig>(m, "MetricsConfig",
                                       "/metrics: its path, squall_info's labels, django-prometheus' settings")
      .field("path", &metrics::MetricsConfig::path)
      .field("info", &metrics::MetricsConfig::info)
      .field("django_namespace", &metrics::MetricsConfig::django_namespace)
      .field("latency_buckets", &metrics::MetricsConfig::latency_buckets)
      .bind();

  StrictStruct<static_files::Root>(m, "StaticRoot", "A directory served under a mount (a finder's prefix)")
      .field("subprefix", &static_files::Root::subprefix)
      .field("dir", &static_files::Root::dir)
      .bind();
  StrictStruct<static_files::Mount>(m, "StaticMount", "A URL prefix served from directories")
      .field("prefix", &static_files::Mount::prefix)
      .field("roots", &static_files::Mount::roots)
      .field("fall_through", &static_files::Mount::fall_through)
      .field("immutable_hashed", &static_files::Mount::immutable_hashed)
      .field("private_prefixes", &static_files::Mount::private_prefixes)
      .validate([](const static_files::Mount& mount) {
        if (mount.prefix.empty() || mount.prefix.front() != '/' || mount.prefix.back() != '/')
          throw nb::value_error(("static prefix must start and end with '/': '" + mount.prefix + "'").c_str());
      })
      .bind();
  StrictStruct<static_files::Config>(m, "StaticFilesConfig", "--static / --media")
      .field("mounts", &static_files::Config::mounts)
      .field("max_age", &static_files::Config::max_age)
      .field("follow_symlinks", &static_files::Config::follow_symlinks)
      .bind();

  StrictStruct<server::ServerConfig>(m, "ServerConfig", "A worker's HTTP server")
      .field("limits", &server::ServerConfig::limits)
      .field("header_timeout", &server::ServerConfig::header_timeout)
      .field("keepalive_timeout", &server::ServerConfig::keepalive_timeout)
      .field("body_timeout", &server::ServerConfig::body_timeout)
      .field("graceful_timeout", &server::ServerConfig::graceful_timeout)
      .field("timeout", &server::ServerConfig::timeout)
      .field("max_queue", &server::ServerConfig::max_queue)
      .field("fair_accept", &server::ServerConfig::fair_accept)
      .setter("forwarded_allow_ips",
              [](server::ServerConfig& c, nb::handle v) {
                std::string bad;
                if (!c.forwarded_allow.parse(nb::cast<std::vector<std::string>>(v), bad))
                  throw nb::value_error(("forwarded_allow_ips: not an IP address or network: '" + bad + "'").c_str());
              })
      .field("access_log", &server::ServerConfig::access_log)
      .field("server_software", &server::ServerConfig::server_software)
      .setter("access_log_format",
              [](server::ServerConfig& c, nb::handle v) {
                c.access_log_fields.clear();
                for (const auto& name : nb::cast<std::vector<std::string>>(v)) {
                  auto f = server::access_field(name);
                  if (!f) throw nb::value_error(("access_log_format: unknown field '" + name + "'").c_str());
                  c.access_log_fields.push_back(*f);
                }
              })
      .field("threads", &server::ServerConfig::threads)
      .field("websockets", &server::ServerConfig::websockets)
      .field("ws_max_message_size", &server::ServerConfig::ws_max_message_size)
      .field("multiprocess", &server::ServerConfig::multiprocess)
      .field("app_port_probes", &server::ServerConfig::app_port_probes)
      .field("app_port_metrics", &server::ServerConfig::app_port_metrics)
      .field("statics", &server::ServerConfig::statics)
      .validate([](const server::ServerConfig& c) {
        if (c.app_port_metrics && !c.app_port_probes) throw nb::value_error("app_port_metrics needs app_port_probes");
      })
      .bind();
}

void bind_master_config(nb::module_& m) {
  StrictStruct<master::MasterConfig>(m, "MasterConfig", "The master: workers, supervision, probes, webhooks")
      .field("workers", &master::MasterConfig::workers)
      .field("timeout", &master::MasterConfig::timeout)
      .field("timeout_grace", &master::MasterConfig::timeout_grace)
      .field("max_requests", &master::MasterConfig::max_requests)
      .field("max_requests_jitter", &master::MasterConfig::max_requests_jitter)
      .field("max_lifetime", &master::MasterConfig::max_lifetime)
      .field("max_memory_mib", &master::MasterConfig::max_memory_mib)
      .field("shutdown_delay", &master::MasterConfig::shutdown_delay)
      .field("graceful_timeout", &master::MasterConfig::graceful_timeout)
      .field("startup_process", &master::MasterConfig::startup_process)
      .field("checker", &master::MasterConfig::checker)
      .field("exit_with_worker", &master::MasterConfig::exit_with_worker)
      .field("amqp", &master::MasterConfig::amqp)
      .field("probe", &master::MasterConfig::probe)
      .setter("webhook_urls",
              [](master::MasterConfig& c, nb::handle v) { c.webhooks.urls = nb::cast<std::vector<std::string>>(v); })
      .setter("webhook_version", [](master::MasterConfig& c,
                                    nb::handle v) { c.webhooks.version = nb::cast<std::optional<std::string>>(v); })
      .field("metrics", &master::MasterConfig::metrics)
      .bind();

  nb::class_<master::RunResult>(m, "RunResult", "What Master.run() returns in each process")
      .def_ro("role", &master::RunResult::role)
      .def_ro("slot", &master::RunResult::slot)
      .def_ro("listen_fd", &master::RunResult::listen_fd)
      .def_ro("exit_status", &master::RunResult::exit_status);

  StrictStruct<state::CheckResult>(m, "CheckResult", "One health check's latest result, for the probes")
      .setter("probes", [](state::CheckResult& r,
                           nb::handle v) { r.probes = static_cast<std::uint8_t>(nb::cast<int>(nb::int_(v))); })
      .field("name", &state::CheckResult::name)
      .field("ok", &state::CheckResult::ok)
      .field("reason", &state::CheckResult::reason)
      .field("duration", &state::CheckResult::duration)
      .bind()
      .def_prop_ro("probes", [](const state::CheckResult& r) { return int(r.probes); });
}

void bind_consumer_config(nb::module_& m) {
  StrictStruct<amqp::ConsumerConfig>(m, "ConsumerConfig", "The AMQP consumer of manage.py consume")
      .field("host", &amqp::ConsumerConfig::host)
      .field("port", &amqp::ConsumerConfig::port)
      .field("vhost", &amqp::ConsumerConfig::vhost)
      .field("user", &amqp::ConsumerConfig::user)
      .field("password", &amqp::ConsumerConfig::password)
      .field("queue", &amqp::ConsumerConfig::queue)
      .field("exchange", &amqp::ConsumerConfig::exchange)
      .field("routing_keys", &amqp::ConsumerConfig::routing_keys)
      .field("dead_letter_exchange", &amqp::ConsumerConfig::dead_letter_exchange)
      .field("prefetch", &amqp::ConsumerConfig::prefetch)
      .field("heartbeat", &amqp::ConsumerConfig::heartbeat)
      .field("reconnect", &amqp::ConsumerConfig::reconnect)
      .field("graceful_timeout", &amqp::ConsumerConfig::graceful_timeout)
      .validate([](const amqp::ConsumerConfig& c) {
        if (c.prefetch < 1 || c.prefetch > 65535) throw nb::value_error("prefetch must be 1-65535");
      })
      .bind();

  nb::class_<amqp::Delivery>(m, "Delivery", "One AMQP message, as Consumer.next_delivery() hands it over")
      .def_ro("generation", &amqp::Delivery::generation)
      .def_ro("delivery_tag", &amqp::Delivery::delivery_tag)
      .def_ro("redelivered", &amqp::Delivery::redelivered)
      .def_ro("consumer_tag", &amqp::Delivery::consumer_tag)
      .def_ro("exchange", &amqp::Delivery::exchange)
      .def_ro("routing_key", &amqp::Delivery::routing_key)
      .def_prop_ro("body", [](const amqp::Delivery& d) { return nb::bytes(d.body.data(), d.body.size()); })
      .def_prop_ro("properties", [](const amqp::Delivery& d) { return properties_to_python(d.properties); });
}

}  // namespace

void bind_config_types(nb::module_& m) {
  bind_enums(m);
  bind_server_config(m);
  bind_master_config(m);
  bind_consumer_config(m);
}

}  // namespace squall::python
