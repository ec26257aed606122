#pragma once
// Every metric family /metrics exposes, declared once: name, type, label
// names and help text (as Envoy's ALL_HTTP1_CODEC_STATS). The exposition
// (metrics/exposition.cpp) writes a family's HELP and TYPE lines from here,
// and a Debug build aborts when a sample's labels differ from the declared
// ones. docs/metrics.md explains each family.
//
// Label names are comma-separated; "*" means labels chosen at run time
// (squall_info: the main options). Counters are declared without "_total":
// the exposition adds it (to the family name in text 0.0.4, to the sample
// names in OpenMetrics). Unknown: "untyped" in text 0.0.4, a gauge in
// OpenMetrics (django-prometheus' gauges named *_total).
#include <cstddef>
#include <iterator>
#include <string_view>

namespace squall::metrics {

// Summary and Untyped: only for an app's own prometheus_client families.
enum class Type { Counter, Gauge, Histogram, Info, Unknown, Summary, Untyped };

// X(enumerator, name, type, labels, help)
#define SQUALL_METRIC_FAMILIES(X)                                                                                      \
  X(DjangoHttpRequestsBeforeMiddlewares, "django_http_requests_before_middlewares", Counter, "",                       \
    "Total count of requests before middlewares run.")                                                                 \
  X(DjangoHttpResponsesBeforeMiddlewares, "django_http_responses_before_middlewares", Counter, "",                     \
    "Total count of responses before middlewares run.")                                                                \
  X(DjangoHttpRequestsLatencyIncludingMiddlewaresSeconds,                                                              \
    "django_http_requests_latency_including_middlewares_seconds", Histogram, "",                                       \
    "Histogram of requests processing time (including middleware processing time).")                                   \
  X(DjangoHttpRequestsUnknownLatencyIncludingMiddlewares,                                                              \
    "django_http_requests_unknown_latency_including_middlewares", Counter, "",                                         \
    "Count of requests for which the latency was unknown (when computing "                                             \
    "django_http_requests_latency_including_middlewares_seconds).")                                                    \
  X(DjangoHttpRequestsLatencySecondsByViewMethod, "django_http_requests_latency_seconds_by_view_method", Histogram,    \
    "view,method", "Histogram of request processing time labelled by view.")                                           \
  X(DjangoHttpRequestsUnknownLatency, "django_http_requests_unknown_latency", Counter, "",                             \
    "Count of requests for which the latency was unknown.")                                                            \
  X(DjangoHttpRequestsTotalByMethod, "django_http_requests_total_by_method", Counter, "method",                        \
    "Count of requests by method.")                                                                                    \
  X(DjangoHttpRequestsTotalByTransport, "django_http_requests_total_by_transport", Counter, "transport",               \
    "Count of requests by transport.")                                                                                 \
  X(DjangoHttpRequestsTotalByViewTransportMethod, "django_http_requests_total_by_view_transport_method", Counter,      \
    "view,transport,method", "Count of requests by view, transport, method.")                                          \
  X(DjangoHttpRequestsBodyTotalBytes, "django_http_requests_body_total_bytes", Histogram, "",                          \
    "Histogram of requests by body size.")                                                                             \
  X(DjangoHttpResponsesBodyTotalBytes, "django_http_responses_body_total_bytes", Histogram, "",                        \
    "Histogram of responses by body size.")                                                                            \
  X(DjangoHttpResponsesTotalByStatus, "django_http_responses_total_by_status", Counter, "status",                      \
    "Count of responses by status.")                                                                                   \
  X(DjangoHttpResponsesTotalByStatusViewMethod, "django_http_responses_total_by_status_view_method", Counter,          \
    "status,view,method", "Count of responses by status, view, method.")                                               \
  X(DjangoHttpResponsesStreaming, "django_http_responses_streaming", Counter, "", "Count of streaming responses.")     \
  X(DjangoHttpAjaxRequests, "django_http_ajax_requests", Counter, "", "Count of AJAX requests.")                       \
  X(DjangoHttpResponsesTotalByTemplatename, "django_http_responses_total_by_templatename", Counter, "templatename",    \
    "Count of responses by template name.")                                                                            \
  X(DjangoHttpResponsesTotalByCharset, "django_http_responses_total_by_charset", Counter, "charset",                   \
    "Count of responses by charset.")                                                                                  \
  X(DjangoHttpExceptionsTotalByType, "django_http_exceptions_total_by_type", Counter, "type",                          \
    "Count of exceptions by object type.")                                                                             \
  X(DjangoHttpExceptionsTotalByView, "django_http_exceptions_total_by_view", Counter, "view",                          \
    "Count of exceptions by view.")                                                                                    \
  X(DjangoDbNewConnections, "django_db_new_connections", Counter, "alias,vendor",                                      \
    "Counter of created connections by database and by vendor.")                                                       \
  X(DjangoDbNewConnectionErrors, "django_db_new_connection_errors", Counter, "alias,vendor",                           \
    "Counter of connection failures by database and by vendor.")                                                       \
  X(DjangoDbExecute, "django_db_execute", Counter, "alias,vendor",                                                     \
    "Counter of executed statements by database and by vendor, including bulk executions.")                            \
  X(DjangoDbExecuteMany, "django_db_execute_many", Counter, "alias,vendor",                                            \
    "Counter of executed statements in bulk operations by database and by vendor.")                                    \
  X(DjangoDbErrors, "django_db_errors", Counter, "alias,vendor,type",                                                  \
    "Counter of execution errors by database, vendor and exception type.")                                             \
  X(DjangoDbQueryDurationSeconds, "django_db_query_duration_seconds", Histogram, "alias,vendor",                       \
    "Histogram of query duration by database and vendor.")                                                             \
  X(DjangoCacheGet, "django_cache_get", Counter, "backend", "Total get requests on cache")                             \
  X(DjangoCacheGetHits, "django_cache_get_hits", Counter, "backend", "Total hits on cache")                            \
  X(DjangoCacheGetMisses, "django_cache_get_misses", Counter, "backend", "Total misses on cache")                      \
  X(DjangoCacheGetFail, "django_cache_get_fail", Counter, "backend", "Total get request failures by cache")            \
  X(DjangoModelInserts, "django_model_inserts", Counter, "model", "Number of insert operations by model.")             \
  X(DjangoModelUpdates, "django_model_updates", Counter, "model", "Number of update operations by model.")             \
  X(DjangoModelDeletes, "django_model_deletes", Counter, "model", "Number of delete operations by model.")             \
  X(DjangoMigrationsUnappliedTotal, "django_migrations_unapplied_total", Unknown, "connection",                        \
    "Count of unapplied migrations by database connection.")                                                           \
  X(DjangoMigrationsAppliedTotal, "django_migrations_applied_total", Unknown, "connection",                            \
    "Count of applied migrations by database connection.")                                                             \
  X(SquallConnectionsActive, "squall_connections_active", Gauge, "", "Open client connections.")                       \
  X(SquallConnectionsReading, "squall_connections_reading", Gauge, "", "Connections reading a request head.")          \
  X(SquallConnectionsWriting, "squall_connections_writing", Gauge, "", "Connections with a request in progress.")      \
  X(SquallConnectionsWaiting, "squall_connections_waiting", Gauge, "", "Idle keep-alive connections.")                 \
  X(SquallConnectionsAccepted, "squall_connections_accepted", Counter, "", "Client connections accepted.")             \
  X(SquallConnectionsHandled, "squall_connections_handled", Counter, "", "Client connections handled to their close.") \
  X(SquallHttpRequests, "squall_http_requests", Counter, "", "HTTP requests read by the workers.")                     \
  X(SquallHttpRequestDurationSeconds, "squall_http_request_duration_seconds", Histogram, "",                           \
    "Time from a complete request head to the end of its response.")                                                   \
  X(SquallHttpReceivedBytes, "squall_http_received_bytes", Counter, "", "Bytes read from clients.")                    \
  X(SquallHttpSentBytes, "squall_http_sent_bytes", Counter, "", "Bytes written to clients.")                           \
  X(SquallHttpRequestErrors, "squall_http_request_errors", Counter, "reason",                                          \
    "Requests refused before reaching the application, by reason (docs/metrics.md).")                                  \
  X(SquallRequestTimeouts, "squall_request_timeouts", Counter, "outcome",                                              \
    "Requests past --timeout: their thread unwound (RequestTimeout), or their worker was replaced after "              \
    "--timeout-grace.")                                                                                                \
  X(SquallWebsocketConnections, "squall_websocket_connections", Gauge, "", "Open WebSocket connections.")              \
  X(SquallWebsocketOpened, "squall_websocket_opened", Counter, "", "WebSocket connections accepted (101).")            \
  X(SquallWebsocketHandshakeFailures, "squall_websocket_handshake_failures", Counter, "",                              \
    "WebSocket upgrade requests refused (RFC 6455 4.2.1: 400, or 426 for another version).")                           \
  X(SquallWebsocketMessages, "squall_websocket_messages", Counter, "direction",                                        \
    "WebSocket messages received (in) and sent (out).")                                                                \
  X(SquallWebsocketMessageBytes, "squall_websocket_message_bytes", Counter, "direction",                               \
    "Payload bytes of the WebSocket messages received (in) and sent (out).")                                           \
  X(SquallWebsocketCloses, "squall_websocket_closes", Counter, "code",                                                 \
    "WebSocket connections ended, by close code (1006: without a close frame; other: a code not listed).")             \
  X(SquallWorkers, "squall_workers", Gauge, "", "Worker processes.")                                                   \
  X(SquallWorkersBusy, "squall_workers_busy", Gauge, "", "Worker processes running at least one request.")             \
  X(SquallWorkersIdle, "squall_workers_idle", Gauge, "", "Worker processes running no request.")                       \
  X(SquallThreads, "squall_threads", Gauge, "", "Python threads taking requests, over all workers.")                   \
  X(SquallThreadsBusy, "squall_threads_busy", Gauge, "", "Python threads running a request.")                          \
  X(SquallWorkerRespawns, "squall_worker_respawns", Counter, "reason", "Workers replaced, by reason.")                 \
  X(SquallRequestsQueued, "squall_requests_queued", Gauge, "", "Requests waiting for a Python thread.")                \
  X(SquallRequestsInFlight, "squall_requests_in_flight", Gauge, "", "Requests read and not yet answered.")             \
  X(SquallRequests, "squall_requests", Counter, "", "Requests answered by the application, including exited workers.") \
  X(SquallListenQueueLength, "squall_listen_queue_length", Gauge, "",                                                  \
    "Connections waiting in the listen socket's accept queue.")                                                        \
  X(SquallListenQueueMax, "squall_listen_queue_max", Gauge, "",                                                        \
    "Limit of the listen socket's accept queue (backlog).")                                                            \
  X(SquallProbeSuccess, "squall_probe_success", Gauge, "probe", "1 when the probe passes, by probe.")                  \
  X(SquallHealthCheckSuccess, "squall_health_check_success", Gauge, "subset,check",                                    \
    "1 when the health check passed in its latest run, by subset (the probe it feeds).")                               \
  X(SquallHealthCheckDurationSeconds, "squall_health_check_duration_seconds", Gauge, "subset,check",                   \
    "Duration of the health check's latest run, by subset.")                                                           \
  X(SquallHealthCheckAgeSeconds, "squall_health_check_age_seconds", Gauge, "",                                         \
    "Time since the latest complete health-check run.")                                                                \
  X(SquallMetricsSeries, "squall_metrics_series", Gauge, "", "Django label sets held by the live workers' tables.")    \
  X(SquallMetricsSeriesLimit, "squall_metrics_series_limit", Gauge, "", "Django label sets a worker's table accepts.") \
  X(SquallMetricsSeriesDropped, "squall_metrics_series_dropped", Counter, "",                                          \
    "Django observations dropped because their worker's label-set table was full.")                                    \
  X(SquallAmqpMessagesReceived, "squall_amqp_messages_received", Counter, "routing_key",                               \
    "Messages delivered by the broker, by routing key.")                                                               \
  X(SquallAmqpMessagesAcked, "squall_amqp_messages_acked", Counter, "routing_key",                                     \
    "Messages acknowledged after their handler returned.")                                                             \
  X(SquallAmqpMessagesNacked, "squall_amqp_messages_nacked", Counter, "routing_key",                                   \
    "Messages negatively acknowledged (requeued or dead-lettered).")                                                   \
  X(SquallAmqpMessagesFailed, "squall_amqp_messages_failed", Counter, "routing_key",                                   \
    "Messages whose handler raised an exception.")                                                                     \
  X(SquallAmqpHandlerDurationSeconds, "squall_amqp_handler_duration_seconds", Histogram, "routing_key",                \
    "Time on_message ran, by routing key.")                                                                            \
  X(SquallAmqpReconnects, "squall_amqp_reconnects", Counter, "",                                                       \
    "Reconnection attempts after the connection was lost or refused.")                                                 \
  X(SquallAmqpConnectionLosses, "squall_amqp_connection_losses", Counter, "", "Connections lost while consuming.")     \
  X(SquallAmqpConnectionState, "squall_amqp_connection_state", Gauge, "state",                                         \
    "Consumer processes by connection state.")                                                                         \
  X(SquallAmqpConnected, "squall_amqp_connected", Gauge, "", "1 when the consumer is connected and consuming.")        \
  X(SquallProcessCpuSeconds, "squall_process_cpu_seconds", Counter, "worker,pid",                                      \
    "User and system CPU time of the process.")                                                                        \
  X(SquallProcessResidentMemoryBytes, "squall_process_resident_memory_bytes", Gauge, "worker,pid",                     \
    "Resident memory of the process.")                                                                                 \
  X(SquallProcessOpenFds, "squall_process_open_fds", Gauge, "worker,pid", "Open file descriptors of the process.")     \
  X(SquallProcessStartTimeSeconds, "squall_process_start_time_seconds", Gauge, "worker,pid",                           \
    "Start time of the process since the epoch.")                                                                      \
  X(SquallInfo, "squall_info", Gauge, "*", "Squall's version and main options.")

enum class Family : std::size_t {
#define SQUALL_X(e, name, type, labels, help) e,
  SQUALL_METRIC_FAMILIES(SQUALL_X)
#undef SQUALL_X
};

struct FamilyInfo {
  std::string_view name;
  Type type;
  std::string_view labels;
  std::string_view help;
};

inline constexpr FamilyInfo kFamilies[] = {
#define SQUALL_X(e, name, type, labels, help) {name, Type::type, labels, help},
    SQUALL_METRIC_FAMILIES(SQUALL_X)
#undef SQUALL_X
};
inline constexpr std::size_t kFamilyCount = std::size(kFamilies);

constexpr const FamilyInfo& info(Family f) { return kFamilies[static_cast<std::size_t>(f)]; }

}  // namespace squall::metrics
