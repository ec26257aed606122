// AMQP deliveries as Python values (squall/amqp: pika-like objects are built
// from these in Python).
#include "python/amqp_delivery.h"

#include <nanobind/stl/string.h>

namespace squall::python {
namespace {

nb::object text_or_bytes(const std::string& s) {
  PyObject* str = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
  if (str) return nb::steal(str);
  PyErr_Clear();
  return nb::bytes(s.data(), s.size());
}

nb::object to_python(const amqp::FieldValue& f);

nb::dict table_to_python(const amqp::FieldTable& t) {
  nb::dict d;
  for (const auto& [k, v] : t) d[nb::str(k.c_str(), k.size())] = to_python(v);
  return d;
}

nb::object to_python(const amqp::FieldValue& f) {
  return std::visit(
      [](const auto& v) -> nb::object {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          return nb::none();
        else if constexpr (std::is_same_v<T, bool>)
          return nb::bool_(v);
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return nb::int_(v);
        else if constexpr (std::is_same_v<T, double>)
          return nb::float_(v);
        else if constexpr (std::is_same_v<T, std::string>)
          return text_or_bytes(v);
        else if constexpr (std::is_same_v<T, amqp::Decimal>)
          return nb::module_::import_("decimal").attr("Decimal")(v.value).attr("scaleb")(-int(v.decimals));
        else if constexpr (std::is_same_v<T, amqp::Timestamp>)
          return nb::module_::import_("datetime").attr("datetime").attr("utcfromtimestamp")(v.seconds);
        else if constexpr (std::is_same_v<T, amqp::FieldTable>)
          return table_to_python(v);
        else {
          nb::list l;
          for (const auto& item : v) l.append(to_python(item));
          return l;
        }
      },
      f.v);
}

}  // namespace

nb::dict properties_to_python(const amqp::Properties& p) {
  nb::dict props;
  auto opt = [&](const char* name, const std::optional<std::string>& v) {
    props[name] = v ? nb::object(nb::str(v->c_str(), v->size())) : nb::none();
  };
  opt("content_type", p.content_type);
  opt("content_encoding", p.content_encoding);
  opt("correlation_id", p.correlation_id);
  opt("reply_to", p.reply_to);
  opt("expiration", p.expiration);
  opt("message_id", p.message_id);
  opt("type", p.type);
  opt("user_id", p.user_id);
  opt("app_id", p.app_id);
  opt("cluster_id", p.cluster_id);
  props["delivery_mode"] = p.delivery_mode ? nb::object(nb::int_(*p.delivery_mode)) : nb::none();
  props["priority"] = p.priority ? nb::object(nb::int_(*p.priority)) : nb::none();
  props["timestamp"] = p.timestamp ? nb::object(nb::int_(*p.timestamp)) : nb::none();
  props["headers"] = p.headers ? nb::object(table_to_python(*p.headers)) : nb::none();
  return props;
}

}  // namespace squall::python
