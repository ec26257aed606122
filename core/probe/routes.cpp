#include "probe/routes.h"

#include <cstdio>

#include "http/response.h"

namespace squall::probe {

std::string response_bytes(const Answer& a, bool close, int version_minor, bool head_only) {
  http::ResponseHead h = http::text_head(a.status, a.body.size(), version_minor, !close);
  h.add("X-Content-Type-Options", "nosniff");
  h.add("Cache-Control", "no-store");
  // The age of the results a probe answered from (the checker runs them every
  // --check-interval), so a reader can tell a fresh result from an old one.
  if (a.checks_age >= 0) {
    char age[32];
    std::snprintf(age, sizeof age, "%.1f", a.checks_age);
    h.add("X-Health-Checks-Age", age);
  }
  return http::text_response(std::move(h), a.body, head_only);
}

std::optional<LocalAnswer> route(const Routes& routes, const http::RequestHead& head, bool close) {
  if (routes.state && routes.probes) {
    if (routes.metrics && metrics::is_metrics_target(head.target, *routes.metrics)) {
      const http::Header* accept = head.find("accept");
      metrics::Sources sources{*routes.state, probe_success(state::snapshot(*routes.state), *routes.probes),
                               routes.listen_fd};
      LocalAnswer a;
      a.kind = LocalAnswer::Kind::Metrics;
      a.bytes = metrics::response_bytes(*routes.metrics, sources, head.method,
                                        accept ? std::string_view(accept->value) : std::string_view(), close,
                                        head.version_minor);
      a.status = head.method == "GET" || head.method == "HEAD" ? 200 : 405;
      return a;
    }
    if (is_probe_target(head.target, *routes.probes)) {
      Answer answer = probe::answer(head.target, state::snapshot(*routes.state), *routes.probes);
      LocalAnswer a;
      a.status = answer.status;
      a.bytes = response_bytes(answer, close, head.version_minor, head.method == "HEAD");
      return a;
    }
  }
  if (routes.files) {
    // Static and media files; a miss under --media (or no mount) falls
    // through to the application.
    if (auto r = routes.files->handle(head, close)) {
      LocalAnswer a;
      a.kind = LocalAnswer::Kind::File;
      a.status = r->status;
      a.bytes = std::move(r->head);
      a.file = std::move(r->file);
      a.offset = r->offset;
      a.length = r->length;
      return a;
    }
  }
  return std::nullopt;
}

}  // namespace squall::probe
