#include "metrics/exposition.h"

#include <cstdlib>

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "http/request.h"
#include "http/response.h"
#include "http/syntax.h"
#include "metrics/families.h"
#include "state/metrics_tables.h"

namespace squall::metrics {

// ---- negotiation ------------------------------------------------------------------

namespace {

bool iequal(std::string_view a, std::string_view b) { return http::iequals(a, b); }

}  // namespace

Format negotiate(std::string_view accept) {
  // Media ranges "type/subtype;param=value;q=0.5", comma-separated.
  double om_q = -1, text_q = -1;
  while (!accept.empty()) {
    auto comma = accept.find(',');
    std::string_view range = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    auto semi = range.find(';');
    std::string_view type = http::trim_ows(range.substr(0, semi));
    std::string_view params = semi == std::string_view::npos ? std::string_view() : range.substr(semi + 1);
    double q = 1;
    std::string_view version;
    while (!params.empty()) {
      auto next = params.find(';');
      std::string_view param = http::trim_ows(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      auto eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = http::trim_ows(param.substr(0, eq)), value = http::trim_ows(param.substr(eq + 1));
      if (iequal(key, "q"))
        q = std::strtod(std::string(value).c_str(), nullptr);
      else if (iequal(key, "version"))
        version = value;
    }
    if (iequal(type, "application/openmetrics-text")) {
      if (version.empty() || version == "1.0.0") om_q = std::max(om_q, q);
    } else if (iequal(type, "text/plain")) {
      text_q = std::max(text_q, q);
    }
  }
  return om_q > 0 && om_q >= text_q ? Format::OpenMetrics : Format::Text;
}

std::string_view content_type(Format format) {
  return format == Format::OpenMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                       : "text/plain; version=0.0.4; charset=utf-8";
}

bool is_metrics_target(std::string_view target, const MetricsConfig& config) {
  if (config.path.empty()) return false;
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view want = config.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (want.size() > 1 && want.back() == '/') want.remove_suffix(1);
  return path == want;
}

// ---- writer -------------------------------------------------------------------------

namespace {

std::string number(double v) {
  if (v == std::numeric_limits<double>::infinity()) return "+Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  std::string s(buf, end);
  // Canonical OpenMetrics numbers for `le`: "1.0", not "1".
  if (s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos &&
      s.find("nan") == std::string::npos)
    s += ".0";
  return s;
}

std::string integer(std::uint64_t v) { return std::to_string(v); }

// A bucket bound as prometheus_client writes it (floatToGoString: Go's
// exponent form from 1e6 on, "1.048576e+06"), so that `le` label values are
// django-prometheus' and a query summing by `le` over both sees one series.
std::string bound(double v) {
  std::string s = number(v);
  auto dot = s.find('.');
  if (v <= 0 || dot == std::string::npos || dot <= 6 || s.find_first_of("eE") != std::string::npos) return s;
  std::string mantissa = s.substr(0, 1) + "." + s.substr(1, dot - 1) + s.substr(dot + 1);
  while (!mantissa.empty() && (mantissa.back() == '0' || mantissa.back() == '.')) mantissa.pop_back();
  return mantissa + "e+0" + std::to_string(dot - 1);
}

void escape_label(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;
using F = Family;

class Writer {
 public:
  Writer(Format f, std::string_view django_namespace) : format_(f), namespace_(django_namespace) {
    out_.reserve(64 * 1024);
  }

  void family(Family f) {
    const FamilyInfo& fam = info(f);
    std::string name(fam.name);
    // prometheus_client's namespace: "NS_" + name (django-prometheus passes
    // PROMETHEUS_METRIC_NAMESPACE to each of its families).
    if (!namespace_.empty() && name.starts_with("django_")) name = std::string(namespace_) + "_" + name;
    family(std::move(name), fam.type, fam.labels, fam.help);
  }

  // An app's family: labels chosen at run time, no HELP (not kept).
  void family(std::string name, Type type, std::string_view labels, std::optional<std::string_view> help) {
    name_ = std::move(name);
    type_ = type;
    labels_ = labels;
    std::string_view type_name = type == Type::Counter     ? "counter"
                                 : type == Type::Gauge     ? "gauge"
                                 : type == Type::Histogram ? "histogram"
                                 : type == Type::Summary   ? "summary"
                                 : type == Type::Info      ? "info"
                                 : format_ == Format::Text ? "untyped"
                                 : type == Type::Untyped   ? "unknown"
                                                           : "gauge";
    std::string meta(name_);
    if (format_ == Format::Text) {
      if (type == Type::Counter) meta += "_total";
      if (type == Type::Info) {
        meta += "_info";
        type_name = "gauge";
      }
    }
    if (help) {
      out_ += "# HELP ";
      out_ += meta;
      out_ += ' ';
      out_ += *help;  // constant texts: nothing to escape
      out_ += '\n';
    }
    out_ += "# TYPE ";
    out_ += meta;
    out_ += ' ';
    out_ += type_name;
    out_ += '\n';
  }

  void sample(std::string_view suffix, const Labels& labels, std::string_view value,
              std::pair<std::string_view, std::string_view> extra = {}) {
#ifndef NDEBUG
    check_labels(labels);
#endif
    out_ += name_;
    out_ += suffix;
    if (!labels.empty() || !extra.first.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        escape_label(out_, v);
        out_ += '"';
      }
      if (!extra.first.empty()) {
        if (!first) out_ += ',';
        out_ += extra.first;
        out_ += "=\"";
        out_ += extra.second;
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  void counter(const Labels& labels, std::uint64_t v) { sample("_total", labels, integer(v)); }
  void counter(const Labels& labels, double v) { sample("_total", labels, number(v)); }
  void gauge(const Labels& labels, double v) { sample("", labels, number(v)); }

  // The labels of a sample are the family's declared ones, in order
  // (metrics/families.h): a mismatch is a bug in this file.
  void check_labels(const Labels& labels) const {
    if (labels_ == "*") return;
    std::string names;
    for (const auto& [k, v] : labels) {
      if (!names.empty()) names += ',';
      names += k;
    }
    if (names != labels_) std::abort();
  }
  void gauge(const Labels& labels, std::uint64_t v) { sample("", labels, integer(v)); }

  // Cells are per bucket; the exposition is cumulative. `sum_scale`: 1e-9
  // for sums kept in nanoseconds. `exemplars` (n + 1 of them, of durations),
  // in OpenMetrics only: the text format 0.0.4 has no syntax for them.
  void histogram(const Labels& labels, const std::uint64_t* cells, const double* bounds, std::size_t n,
                 std::uint64_t sum, double sum_scale, const Exemplar* exemplars = nullptr) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= n; ++i) {
      total += cells[i];
      sample("_bucket", labels, integer(total), {"le", i < n ? bound(bounds[i]) : "+Inf"});
      if (exemplars && format_ == Format::OpenMetrics && exemplars[i].seq != 0) exemplar(exemplars[i]);
    }
    sample("_count", labels, integer(total));
    sample("_sum", labels, number(static_cast<double>(sum) * sum_scale));
  }

  // OpenMetrics 1.0, "Exemplars": after the bucket's value,
  // ` # {trace_id="..."} VALUE TIMESTAMP` (a label set of at most 128 UTF-8
  // characters: trace_id="32 hex digits" is 42).
  void exemplar(const Exemplar& e) {
    out_.pop_back();  // the sample's '\n'
    out_ += " # {trace_id=\"";
    out_ += exemplar_trace_hex(e);
    out_ += "\"} ";
    out_ += number(static_cast<double>(e.value_ns) / 1e9);  // correctly rounded: 300000 ns is 0.0003
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, " %llu.%03llu\n", static_cast<unsigned long long>(e.time_ms / 1000),
                  static_cast<unsigned long long>(e.time_ms % 1000));
    out_ += stamp;
  }

  std::string finish() {
    if (format_ == Format::OpenMetrics) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  Format format_;
  std::string_view namespace_;
  std::string out_;
  std::string name_;
  Type type_ = Type::Gauge;
  std::string_view labels_;  // declared label names, comma-separated
};

// ---- reading the tables ---------------------------------------------------------------

using Cells = std::array<std::uint64_t, kCells>;
struct SeriesKey {
  Kind kind;
  std::string labels;
  bool operator<(const SeriesKey& o) const { return kind != o.kind ? kind < o.kind : labels < o.labels; }
};

template <std::size_t N>
void collect(const SeriesTable<N>& table, std::map<SeriesKey, Cells>& into) {
  if (load(table.used) == 0) return;
  for (const Series& s : table.slots) {
    if (std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(s.state)).load(std::memory_order_acquire) != 2)
      continue;
    Cells& c =
        into[{static_cast<Kind>(s.kind), std::string(s.labels, std::min<std::uint32_t>(s.labels_len, kLabelBytes))}];
    if (s.kind == static_cast<std::uint32_t>(Kind::AppCounter) ||
        s.kind == static_cast<std::uint32_t>(Kind::AppGauge)) {
      // An app's sample is a double: summed as one (gauges too: over the live workers).
      c[0] = std::bit_cast<std::uint64_t>(std::bit_cast<double>(c[0]) + std::bit_cast<double>(load(s.cells[0])));
      continue;
    }
    for (std::size_t i = 0; i < kCells; ++i) c[i] += load(s.cells[i]);
  }
}

std::vector<std::string_view> split_labels(const std::string& packed) {
  std::vector<std::string_view> out;
  std::string_view rest = packed;
  while (!rest.empty()) {
    auto nul = rest.find('\0');
    out.push_back(rest.substr(0, nul));
    if (nul == std::string_view::npos) break;
    rest = rest.substr(nul + 1);
  }
  return out;
}

template <std::size_t N>
void sum_into(std::uint64_t (&to)[N], const std::uint64_t (&from)[N]) {
  for (std::size_t i = 0; i < N; ++i) to[i] += load(from[i]);
}

// The latest of two exemplars (live workers' and the table being summed).
void keep_latest(Exemplar& into, const Exemplar& from) {
  Exemplar e = read_exemplar(from);
  if (e.seq != 0 && (into.seq == 0 || e.time_ms >= into.time_ms)) into = e;
}

using LatencyExemplars = std::array<Exemplar, kLatencyCells>;

// The Request series' latency exemplars of a worker, by series key.
void collect_exemplars(const WorkerTables& w, std::map<SeriesKey, LatencyExemplars>& into) {
  if (load(w.series.used) == 0) return;
  for (std::size_t i = 0; i < kWorkerSeries; ++i) {
    const Series& s = w.series.slots[i];
    if (std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(s.state)).load(std::memory_order_acquire) != 2 ||
        s.kind != static_cast<std::uint32_t>(Kind::Request))
      continue;
    LatencyExemplars* row = nullptr;
    for (std::size_t b = 0; b < kLatencyCells; ++b) {
      if (std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(w.request_exemplars[i][b].seq))
              .load(std::memory_order_relaxed) == 0)
        continue;
      if (!row) row = &into[{Kind::Request, std::string(s.labels, std::min<std::uint32_t>(s.labels_len, kLabelBytes))}];
      keep_latest((*row)[b], w.request_exemplars[i][b]);
    }
  }
}

struct Totals {
  std::map<SeriesKey, LatencyExemplars> request_exemplars;
  ServerTable server{};
  DjangoTable django{};
  std::map<SeriesKey, Cells> series;
  std::uint64_t series_used = 0;
};

void add_server(ServerTable& to, const ServerTable& from, bool gauges) {
  for (auto f : {&ServerTable::accepted, &ServerTable::handled, &ServerTable::requests, &ServerTable::bytes_received,
                 &ServerTable::bytes_sent, &ServerTable::duration_sum_ns, &ServerTable::timeouts_unwound,
                 &ServerTable::ws_opened, &ServerTable::ws_handshake_failures, &ServerTable::ws_messages_in,
                 &ServerTable::ws_messages_out, &ServerTable::ws_bytes_in, &ServerTable::ws_bytes_out})
    to.*f += load(from.*f);
  sum_into(to.duration, from.duration);
  sum_into(to.request_errors, from.request_errors);
  sum_into(to.ws_closes, from.ws_closes);
  for (std::size_t i = 0; i < kServerCells; ++i) keep_latest(to.duration_exemplars[i], from.duration_exemplars[i]);
  if (gauges)
    for (auto f : {&ServerTable::active, &ServerTable::reading, &ServerTable::writing, &ServerTable::waiting,
                   &ServerTable::ws_connections})
      to.*f += load(from.*f);
}

void add_django(DjangoTable& to, const DjangoTable& from) {
  for (auto f : {&DjangoTable::requests_before, &DjangoTable::responses_before, &DjangoTable::unknown_latency_before,
                 &DjangoTable::unknown_latency, &DjangoTable::streaming, &DjangoTable::latency_before_sum_ns,
                 &DjangoTable::request_body_sum, &DjangoTable::response_body_sum, &DjangoTable::series_dropped,
                 &DjangoTable::ajax})
    to.*f += load(from.*f);
  sum_into(to.latency_before, from.latency_before);
  sum_into(to.request_body, from.request_body);
  sum_into(to.response_body, from.response_body);
}

// ---- processes ------------------------------------------------------------------------

struct ProcessStats {
  bool ok = false;
  double cpu_seconds = 0, start_time = 0;
  std::uint64_t rss_bytes = 0, open_fds = 0;
};

double boot_time() {
  static double btime = [] {
    std::ifstream stat("/proc/stat");
    std::string key;
    double value = 0;
    while (stat >> key) {
      if (key == "btime") {
        stat >> value;
        break;
      }
      stat.ignore(1 << 16, '\n');
    }
    return value;
  }();
  return btime;
}

ProcessStats process_stats(int pid) {
  ProcessStats p;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream stat(path);
  std::string line;
  if (!std::getline(stat, line)) return p;
  auto paren = line.rfind(')');
  if (paren == std::string::npos) return p;
  std::istringstream fields(line.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  // Fields from 3 (state); utime 14, stime 15, starttime 22, rss 24.
  if (f.size() < 22) return p;
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  p.cpu_seconds = (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / tick;
  p.start_time = boot_time() + std::stod(f[22 - 3]) / tick;
  p.rss_bytes = std::stoull(f[24 - 3]) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::snprintf(path, sizeof path, "/proc/%d/fd", pid);
  if (DIR* dir = opendir(path)) {
    while (dirent* e = readdir(dir))
      if (e->d_name[0] != '.') ++p.open_fds;
    closedir(dir);
  }
  p.ok = true;
  return p;
}

// ---- the families ------------------------------------------------------------------

// django-prometheus' accepted methods (PrometheusAfterMiddleware._method).
bool known_method(std::string_view m) {
  for (std::string_view k : {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"})
    if (m == k) return true;
  return false;
}

// An app's prometheus_client samples (squall/app_metrics.py mirrors them): the
// packed key is family, type, sample name, then label name/value pairs. Each
// family once, its samples grouped by label set, a histogram's buckets by
// `le` then _count and _sum, as OpenMetrics requires.
void app_families(Writer& out, const std::vector<std::pair<const SeriesKey*, double>>& samples) {
  struct Sample {
    std::vector<std::string_view> v;  // family, type, sample, k, v, ...
    Labels labels;                    // without le
    std::string_view le;
    double le_value = 0;
    int rank = 0;  // _bucket, _count, _sum, other
    double value = 0;
  };
  std::vector<Sample> all;
  all.reserve(samples.size());
  for (const auto& [key, value] : samples) {
    Sample s;
    s.v = split_labels(key->labels);
    if (s.v.size() < 3 || s.v.size() % 2 == 0 || !s.v[2].starts_with(s.v[0])) continue;
    for (std::size_t i = 3; i + 1 < s.v.size(); i += 2) {
      if (s.v[i] == "le") {
        s.le = s.v[i + 1];
        s.le_value =
            s.le == "+Inf" ? std::numeric_limits<double>::infinity() : std::strtod(std::string(s.le).c_str(), nullptr);
      } else {
        s.labels.emplace_back(s.v[i], s.v[i + 1]);
      }
    }
    std::string_view suffix = s.v[2].substr(s.v[0].size());
    s.rank = suffix == "_bucket" ? 0 : suffix == "_count" ? 1 : suffix == "_sum" ? 2 : 3;
    s.value = value;
    all.push_back(std::move(s));
  }
  std::sort(all.begin(), all.end(), [](const Sample& a, const Sample& b) {
    if (a.v[0] != b.v[0]) return a.v[0] < b.v[0];
    if (a.labels != b.labels) return a.labels < b.labels;
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.le_value != b.le_value) return a.le_value < b.le_value;
    return a.v[2] < b.v[2];
  });
  std::string_view current;
  for (const Sample& s : all) {
    if (s.v[0] != current) {
      current = s.v[0];
      std::string_view t = s.v[1];
      Type type = t == "counter"     ? Type::Counter
                  : t == "gauge"     ? Type::Gauge
                  : t == "histogram" ? Type::Histogram
                  : t == "summary"   ? Type::Summary
                                     : Type::Untyped;
      out.family(std::string(current), type, "*", std::nullopt);
    }
    out.sample(
        s.v[2].substr(s.v[0].size()), s.labels, number(s.value),
        s.le.empty() ? std::pair<std::string_view, std::string_view>{} : std::pair{std::string_view("le"), s.le});
  }
}

std::string render_once(const MetricsConfig& config, const Sources& src, Format format) {
  const state::SharedState& state = src.state;
  state::Snapshot snap = state::snapshot(state);
  Totals t;
  const Region* region = state.metrics;
  if (region) {
    add_server(t.server, region->retired.server, false);
    add_django(t.django, region->retired.django);
    collect(region->retired_series, t.series);
    for (const auto& w : snap.workers) {
      const WorkerTables& wt = region->workers[w.slot];
      add_server(t.server, wt.server, true);
      add_django(t.django, wt.django);
      t.series_used += load(wt.series.used);
      collect(wt.series, t.series);
      if (format == Format::OpenMetrics) collect_exemplars(wt, t.request_exemplars);
    }
  }
  Writer out(format, config.django_namespace);
  const BucketsView lb = latency_buckets(region);

  // -- django-prometheus: requests (one record per view, method, transport, status)
  std::map<std::string_view, std::uint64_t> by_method, by_transport, by_status;
  std::map<std::array<std::string_view, 3>, std::uint64_t> by_view_transport_method, by_status_view_method;
  std::map<std::array<std::string_view, 2>, std::array<std::uint64_t, kLatencyCells + 1>> latency;
  std::map<std::array<std::string_view, 2>, LatencyExemplars> latency_exemplars;
  std::map<std::string_view, const Cells*> caches, models;
  std::map<std::string_view, std::uint64_t> charsets, templates;
  std::vector<std::pair<const SeriesKey*, double>> app;
  std::map<std::array<std::string_view, 2>, std::uint64_t> exceptions;
  std::map<std::string_view, std::uint64_t> exceptions_by_type, exceptions_by_view;
  std::map<std::array<std::string_view, 2>, const Cells*> db;
  std::map<std::array<std::string_view, 3>, std::uint64_t> db_errors;
  std::vector<std::vector<std::string_view>> keep;  // label views point into t.series keys
  for (const auto& [key, cells] : t.series) {
    auto v = split_labels(key.labels);
    switch (key.kind) {
      case Kind::Request: {
        if (v.size() != 4) break;
        std::uint64_t n = cells[kReqCount];
        // django-prometheus: the counters say <invalid method> for a method
        // outside its list, the latency histogram has the method as sent
        // (llhttp accepts only the methods it knows: a bounded set).
        std::string_view method = known_method(v[1]) ? v[1] : std::string_view("<invalid method>");
        by_method[method] += n;
        by_transport[v[2]] += n;
        by_status[v[3]] += n;
        if (cells[kReqViewed]) by_view_transport_method[{v[0], v[2], method}] += cells[kReqViewed];
        by_status_view_method[{v[3], v[0], method}] += n;
        auto& l = latency[{v[0], v[1]}];
        for (std::size_t i = 0; i < kLatencyCells; ++i) l[i] += cells[kReqLatency + i];
        l[kLatencyCells] += cells[kReqLatencySum];
        if (auto e = t.request_exemplars.find(key); e != t.request_exemplars.end()) {
          auto& into = latency_exemplars[{v[0], v[1]}];
          for (std::size_t i = 0; i < kLatencyCells; ++i)
            if (e->second[i].seq != 0 && (into[i].seq == 0 || e->second[i].time_ms >= into[i].time_ms))
              into[i] = e->second[i];
        }
        break;
      }
      case Kind::Cache:
        if (v.size() == 1) caches[v[0]] = &cells;
        break;
      case Kind::Model:
        if (v.size() == 1) models[v[0]] = &cells;
        break;
      case Kind::Charset:
        if (v.size() == 1) charsets[v[0]] += cells[0];
        break;
      case Kind::Template:
        if (v.size() == 1) templates[v[0]] += cells[0];
        break;
      case Kind::AppCounter:
      case Kind::AppGauge: app.emplace_back(&key, std::bit_cast<double>(cells[0])); break;
      case Kind::Exception:
        if (v.size() != 2) break;
        exceptions_by_type[v[0]] += cells[0];
        exceptions_by_view[v[1]] += cells[0];
        break;
      case Kind::Db:
        if (v.size() == 2) db[{v[0], v[1]}] = &cells;
        break;
      case Kind::DbError:
        if (v.size() == 3) db_errors[{v[0], v[1], v[2]}] += cells[0];
        break;
      case Kind::Migrations:
      case Kind::Amqp:
      case Kind::AmqpConnection: break;
    }
  }
  const DjangoTable& dj = t.django;

  out.family(F::DjangoHttpRequestsBeforeMiddlewares);
  out.counter({}, dj.requests_before);
  out.family(F::DjangoHttpResponsesBeforeMiddlewares);
  out.counter({}, dj.responses_before);
  out.family(F::DjangoHttpRequestsLatencyIncludingMiddlewaresSeconds);
  out.histogram({}, dj.latency_before, lb.bounds, lb.n, dj.latency_before_sum_ns, 1e-9);
  out.family(F::DjangoHttpRequestsUnknownLatencyIncludingMiddlewares);
  out.counter({}, dj.unknown_latency_before);
  out.family(F::DjangoHttpRequestsLatencySecondsByViewMethod);
  for (const auto& [k, l] : latency) {
    auto e = latency_exemplars.find(k);
    out.histogram({{"view", k[0]}, {"method", k[1]}}, l.data(), lb.bounds, lb.n, l[kLatencyCells], 1e-9,
                  e == latency_exemplars.end() ? nullptr : e->second.data());
  }
  out.family(F::DjangoHttpRequestsUnknownLatency);
  out.counter({}, dj.unknown_latency);
  out.family(F::DjangoHttpRequestsTotalByMethod);
  for (const auto& [m, n] : by_method) out.counter({{"method", m}}, n);
  out.family(F::DjangoHttpRequestsTotalByTransport);
  for (const auto& [m, n] : by_transport) out.counter({{"transport", m}}, n);
  out.family(F::DjangoHttpRequestsTotalByViewTransportMethod);
  for (const auto& [k, n] : by_view_transport_method)
    out.counter({{"view", k[0]}, {"transport", k[1]}, {"method", k[2]}}, n);
  out.family(F::DjangoHttpRequestsBodyTotalBytes);
  {
    double bounds[kBodyBucketCount];
    for (std::size_t i = 0; i < kBodyBucketCount; ++i) bounds[i] = body_bucket(i);
    out.histogram({}, dj.request_body, bounds, kBodyBucketCount, dj.request_body_sum, 1);
    out.family(F::DjangoHttpResponsesBodyTotalBytes);
    out.histogram({}, dj.response_body, bounds, kBodyBucketCount, dj.response_body_sum, 1);
  }
  out.family(F::DjangoHttpResponsesTotalByStatus);
  for (const auto& [s, n] : by_status) out.counter({{"status", s}}, n);
  out.family(F::DjangoHttpResponsesTotalByStatusViewMethod);
  for (const auto& [k, n] : by_status_view_method) out.counter({{"status", k[0]}, {"view", k[1]}, {"method", k[2]}}, n);
  out.family(F::DjangoHttpResponsesStreaming);
  out.counter({}, dj.streaming);
  out.family(F::DjangoHttpAjaxRequests);
  out.counter({}, dj.ajax);
  out.family(F::DjangoHttpResponsesTotalByTemplatename);
  for (const auto& [k, n] : templates) out.counter({{"templatename", k}}, n);
  out.family(F::DjangoHttpResponsesTotalByCharset);
  for (const auto& [k, n] : charsets) out.counter({{"charset", k}}, n);
  out.family(F::DjangoHttpExceptionsTotalByType);
  for (const auto& [k, n] : exceptions_by_type) out.counter({{"type", k}}, n);
  out.family(F::DjangoHttpExceptionsTotalByView);
  for (const auto& [k, n] : exceptions_by_view) out.counter({{"view", k}}, n);

  // -- django-prometheus: databases and migrations
  auto db_family = [&](Family f, std::size_t cell) {
    out.family(f);
    for (const auto& [k, c] : db) out.counter({{"alias", k[0]}, {"vendor", k[1]}}, (*c)[cell]);
  };
  db_family(F::DjangoDbNewConnections, kDbConnections);
  db_family(F::DjangoDbNewConnectionErrors, kDbConnectionErrors);
  db_family(F::DjangoDbExecute, kDbExecute);
  db_family(F::DjangoDbExecuteMany, kDbExecuteMany);
  out.family(F::DjangoDbErrors);
  for (const auto& [k, n] : db_errors) out.counter({{"alias", k[0]}, {"vendor", k[1]}, {"type", k[2]}}, n);
  out.family(F::DjangoDbQueryDurationSeconds);
  for (const auto& [k, c] : db)
    out.histogram({{"alias", k[0]}, {"vendor", k[1]}}, c->data() + kDbDuration, lb.bounds, lb.n, (*c)[kDbDurationSum],
                  1e-9);
  // -- django-prometheus: caches and models
  auto by_label = [&](Family f, std::string_view label, const std::map<std::string_view, const Cells*>& m,
                      std::size_t cell) {
    out.family(f);
    for (const auto& [k, c] : m) out.counter({{label, k}}, (*c)[cell]);
  };
  by_label(F::DjangoCacheGet, "backend", caches, kCacheGet);
  by_label(F::DjangoCacheGetHits, "backend", caches, kCacheHits);
  by_label(F::DjangoCacheGetMisses, "backend", caches, kCacheMisses);
  by_label(F::DjangoCacheGetFail, "backend", caches, kCacheFail);
  by_label(F::DjangoModelInserts, "model", models, kModelInserts);
  by_label(F::DjangoModelUpdates, "model", models, kModelUpdates);
  by_label(F::DjangoModelDeletes, "model", models, kModelDeletes);
  {
    std::map<SeriesKey, Cells> pod;
    if (region) collect(region->pod, pod);
    // django-prometheus' gauges whose names end in _total: the same sample
    // names, "untyped" in text 0.0.4 (promtool's linter refuses a gauge named
    // *_total, not an untyped one) and a gauge in OpenMetrics, as
    // prometheus_client writes them; Prometheus stores them alike.
    out.family(F::DjangoMigrationsUnappliedTotal);
    for (const auto& [k, c] : pod)
      if (k.kind == Kind::Migrations) out.gauge({{"connection", split_labels(k.labels)[0]}}, c[1]);
    out.family(F::DjangoMigrationsAppliedTotal);
    for (const auto& [k, c] : pod)
      if (k.kind == Kind::Migrations) out.gauge({{"connection", split_labels(k.labels)[0]}}, c[0]);
  }

  // -- the server (replacing the uwsgi and nginx exporters)
  const ServerTable& sv = t.server;
  out.family(F::SquallConnectionsActive);
  out.gauge({}, sv.active);
  out.family(F::SquallConnectionsReading);
  out.gauge({}, sv.reading);
  out.family(F::SquallConnectionsWriting);
  out.gauge({}, sv.writing);
  out.family(F::SquallConnectionsWaiting);
  out.gauge({}, sv.waiting);
  out.family(F::SquallConnectionsAccepted);
  out.counter({}, sv.accepted);
  out.family(F::SquallConnectionsHandled);
  out.counter({}, sv.handled);
  out.family(F::SquallHttpRequests);
  out.counter({}, sv.requests);
  out.family(F::SquallHttpRequestDurationSeconds);
  out.histogram({}, sv.duration, kServerBuckets, std::size(kServerBuckets), sv.duration_sum_ns, 1e-9,
                sv.duration_exemplars);
  out.family(F::SquallHttpReceivedBytes);
  out.counter({}, sv.bytes_received);
  out.family(F::SquallHttpSentBytes);
  out.counter({}, sv.bytes_sent);
  out.family(F::SquallHttpRequestErrors);
  for (std::size_t i = 0; i < http::kRequestErrorCount; ++i)
    out.counter({{"reason", http::kRequestErrors[i].id}}, sv.request_errors[i]);
  out.family(F::SquallRequestTimeouts);
  out.counter({{"outcome", "unwound"}}, sv.timeouts_unwound);
  out.counter({{"outcome", "worker_replaced"}}, state.timeouts_replaced.load(std::memory_order_relaxed));
  out.family(F::SquallWebsocketConnections);
  out.gauge({}, sv.ws_connections);
  out.family(F::SquallWebsocketOpened);
  out.counter({}, sv.ws_opened);
  out.family(F::SquallWebsocketHandshakeFailures);
  out.counter({}, sv.ws_handshake_failures);
  out.family(F::SquallWebsocketMessages);
  out.counter({{"direction", "in"}}, sv.ws_messages_in);
  out.counter({{"direction", "out"}}, sv.ws_messages_out);
  out.family(F::SquallWebsocketMessageBytes);
  out.counter({{"direction", "in"}}, sv.ws_bytes_in);
  out.counter({{"direction", "out"}}, sv.ws_bytes_out);
  out.family(F::SquallWebsocketCloses);
  for (std::size_t i = 0; i < kWsCloseCodeCount; ++i) {
    std::string code = kWsCloseCodes[i] ? std::to_string(kWsCloseCodes[i]) : "other";
    out.counter({{"code", code}}, sv.ws_closes[i]);
  }

  std::uint64_t busy_workers = 0, busy_threads = 0, threads = 0, queued = 0, in_flight = 0;
  for (const auto& w : snap.workers) {
    busy_workers += w.busy_threads > 0;
    busy_threads += w.busy_threads;
    threads += w.threads;
    queued += w.queued;
    in_flight += w.in_flight;
  }
  out.family(F::SquallWorkers);
  out.gauge({}, static_cast<std::uint64_t>(snap.workers.size()));
  out.family(F::SquallWorkersBusy);
  out.gauge({}, busy_workers);
  out.family(F::SquallWorkersIdle);
  out.gauge({}, static_cast<std::uint64_t>(snap.workers.size()) - busy_workers);
  out.family(F::SquallThreads);
  out.gauge({}, threads);
  out.family(F::SquallThreadsBusy);
  out.gauge({}, busy_threads);
  out.family(F::SquallWorkerRespawns);
  for (std::size_t i = 0; i < state::kRespawnReasonCount; ++i)
    out.counter({{"reason", state::kRespawnReasons[i]}}, state.respawns[i].load(std::memory_order_relaxed));
  out.family(F::SquallRequestsQueued);
  out.gauge({}, queued);
  out.family(F::SquallRequestsInFlight);
  out.gauge({}, in_flight);
  out.family(F::SquallRequests);
  out.counter({}, snap.requests_total);
  if (src.listen_fd >= 0) {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(src.listen_fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_LISTEN) {
      // For a listening socket Linux reports the accept queue in tcpi_unacked
      // and its limit (the backlog) in tcpi_sacked.
      out.family(F::SquallListenQueueLength);
      out.gauge({}, static_cast<std::uint64_t>(info.tcpi_unacked));
      out.family(F::SquallListenQueueMax);
      out.gauge({}, static_cast<std::uint64_t>(info.tcpi_sacked));
    }
  }
  out.family(F::SquallProbeSuccess);
  for (auto [name, ok] : {std::pair{"startup", src.probes.startup}, std::pair{"readiness", src.probes.readiness},
                          std::pair{"liveness", src.probes.liveness}})
    out.gauge({{"probe", name}}, std::uint64_t{ok});
  // One series per (subset, check): a backend in two subsets is two results,
  // and a series repeated without a distinguishing label is invalid exposition.
  constexpr std::pair<std::uint8_t, const char*> kSubsets[] = {
      {state::kStartupBit, "startup"}, {state::kReadinessBit, "readiness"}, {state::kLivenessBit, "liveness"}};
  out.family(F::SquallHealthCheckSuccess);
  for (const auto& c : snap.checks)
    for (auto [bit, subset] : kSubsets)
      if (c.probes & bit) out.gauge({{"subset", subset}, {"check", c.name}}, std::uint64_t{c.ok});
  out.family(F::SquallHealthCheckDurationSeconds);
  for (const auto& c : snap.checks)
    for (auto [bit, subset] : kSubsets)
      if (c.probes & bit) out.gauge({{"subset", subset}, {"check", c.name}}, c.duration);
  out.family(F::SquallHealthCheckAgeSeconds);
  if (snap.checks_age >= 0) out.gauge({}, snap.checks_age);
  out.family(F::SquallMetricsSeries);
  out.gauge({}, t.series_used);
  out.family(F::SquallMetricsSeriesLimit);
  out.gauge({}, static_cast<std::uint64_t>(SeriesTable<kWorkerSeries>::kLimit));
  out.family(F::SquallMetricsSeriesDropped);
  out.counter({}, dj.series_dropped);

  // -- the AMQP consumer (manage.py consume)
  if (state.amqp.load(std::memory_order_relaxed)) {
    std::vector<std::pair<std::string_view, const Cells*>> by_key;
    Cells connection{};
    for (const auto& [k, c] : t.series) {
      if (k.kind == Kind::Amqp) by_key.emplace_back(split_labels(k.labels)[0], &c);
      if (k.kind == Kind::AmqpConnection)
        for (std::size_t i = 0; i < kCells; ++i) connection[i] += c[i];
    }
    auto amqp_family = [&](Family f, std::size_t cell) {
      out.family(f);
      for (const auto& [key, c] : by_key) out.counter({{"routing_key", key}}, (*c)[cell]);
    };
    amqp_family(F::SquallAmqpMessagesReceived, kAmqpReceived);
    amqp_family(F::SquallAmqpMessagesAcked, kAmqpAcked);
    amqp_family(F::SquallAmqpMessagesNacked, kAmqpNacked);
    amqp_family(F::SquallAmqpMessagesFailed, kAmqpFailed);
    out.family(F::SquallAmqpHandlerDurationSeconds);
    for (const auto& [key, c] : by_key)
      out.histogram({{"routing_key", key}}, c->data() + kAmqpDuration, kAmqpBuckets, std::size(kAmqpBuckets),
                    (*c)[kAmqpDurationSum], 1e-9);
    out.family(F::SquallAmqpReconnects);
    out.counter({}, connection[kAmqpReconnects]);
    out.family(F::SquallAmqpConnectionLosses);
    out.counter({}, connection[kAmqpConnectionLosses]);
    std::uint64_t in_state[state::kAmqpStateCount] = {};
    for (const auto& w : snap.workers) {
      std::uint32_t s = state.workers[w.slot].amqp_state.load(std::memory_order_relaxed);
      if (s < state::kAmqpStateCount) ++in_state[s];
    }
    out.family(F::SquallAmqpConnectionState);
    for (std::size_t i = 0; i < state::kAmqpStateCount; ++i) out.gauge({{"state", state::kAmqpStates[i]}}, in_state[i]);
    out.family(F::SquallAmqpConnected);
    out.gauge({}, std::uint64_t{in_state[static_cast<std::size_t>(state::AmqpState::Consuming)] > 0});
  }

  // -- processes
  struct Proc {
    std::string worker;
    int pid;
  };
  std::vector<Proc> procs;
  if (int m = state.master_pid.load()) procs.push_back({"master", m});
  for (const auto& w : snap.workers) procs.push_back({std::to_string(w.slot), w.pid});
  std::vector<std::pair<Proc, ProcessStats>> stats;
  for (const auto& p : procs)
    if (auto s = process_stats(p.pid); s.ok) stats.emplace_back(p, s);
  auto proc_family = [&](Family f, auto value) {
    out.family(f);
    Type type = info(f).type;
    for (const auto& [p, s] : stats) {
      std::string pid = std::to_string(p.pid);
      Labels l{{"worker", p.worker}, {"pid", pid}};
      if (type == Type::Counter)
        out.counter(l, value(s));
      else
        out.gauge(l, value(s));
    }
  };
  proc_family(F::SquallProcessCpuSeconds, [](const ProcessStats& s) { return s.cpu_seconds; });
  proc_family(F::SquallProcessResidentMemoryBytes, [](const ProcessStats& s) { return s.rss_bytes; });
  proc_family(F::SquallProcessOpenFds, [](const ProcessStats& s) { return s.open_fds; });
  proc_family(F::SquallProcessStartTimeSeconds, [](const ProcessStats& s) { return s.start_time; });

  // A gauge named *_info, the pre-OpenMetrics convention, in both formats:
  // promtool's linter (Prometheus 2.x) does not parse OpenMetrics' info type.
  out.family(F::SquallInfo);
  Labels info;
  for (const auto& [k, v] : config.info) info.emplace_back(k, v);
  out.sample("", info, "1");
  app_families(out, app);
  return out.finish();
}

}  // namespace

std::string render(const MetricsConfig& config, const Sources& src, Format format) {
  // A worker may be folded in while a worker's I/O thread renders (with
  // --probe-port = --port): render again, so no counter is seen twice or not at all.
  for (;;) {
    std::uint32_t before = src.state.fold_seq.load(std::memory_order_acquire);
    if (before % 2) continue;
    std::string body = render_once(config, src, format);
    if (src.state.fold_seq.load(std::memory_order_acquire) == before) return body;
  }
}

std::string response_bytes(const MetricsConfig& config, const Sources& sources, std::string_view method,
                           std::string_view accept, bool close, int version_minor) {
  bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    std::string_view body = "only GET and HEAD\n";
    http::ResponseHead h = http::text_head(405, body.size(), version_minor, !close);
    h.fields.insert(h.fields.begin(), {"Allow", "GET, HEAD"});
    return http::text_response(std::move(h), body);
  }
  Format format = negotiate(accept);
  std::string body = render(config, sources, format);
  http::ResponseHead h;
  h.version_minor = version_minor;
  h.keep_alive = !close;
  h.add("Content-Type", content_type(format));
  h.add("Cache-Control", "no-store");
  h.content_length = body.size();
  std::string out = http::serialize(h);
  if (!head_only) out += body;
  return out;
}

}  // namespace squall::metrics
