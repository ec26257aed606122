#pragma once
// Config objects handed from Python to the engine. Each is a nanobind class
// whose constructor takes every field by keyword, none optional, and refuses
// a name it does not know: the defaults live in squall/options.py only, so a
// field the Python side forgot or misspelled is a TypeError at startup, never
// a silent C++ default. Fields stay readable (and writable) as attributes.
#include <nanobind/nanobind.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace squall::python {
namespace nb = nanobind;

template <typename T>
class StrictStruct {
 public:
  using Setter = std::function<void(T&, nb::handle)>;

  StrictStruct(nb::handle scope, const char* name, const char* doc)
      : cls_(scope, name, doc), name_(name), fields_(std::make_shared<std::vector<Field>>()) {}

  // A field kept in `member`, readable and writable as an attribute.
  template <typename F>
  StrictStruct& field(const char* name, F T::*member) {
    cls_.def_rw(name, member);
    return setter(name, [member](T& t, nb::handle v) { t.*member = nb::cast<F>(v); });
  }

  // A field that only the constructor takes, converted by `set` (which
  // raises ValueError for a value it refuses).
  StrictStruct& setter(const char* name, Setter set) {
    fields_->push_back({name, std::move(set)});
    return *this;
  }

  // Checks the whole object once every field is set (ValueError).
  StrictStruct& validate(std::function<void(const T&)> check) {
    check_ = std::move(check);
    return *this;
  }

  nb::class_<T>& bind() {
    auto fields = fields_;
    auto check = check_;
    std::string name = name_;
    cls_.def(
        "__init__",
        [fields, check, name](T* self, nb::kwargs kwargs) {
          // A misspelled name is reported as such, not as the field it misses.
          for (auto [key, _] : kwargs) {
            std::string k = nb::cast<std::string>(key);
            bool known = false;
            for (const Field& f : *fields) known = known || k == f.name;
            if (!known) throw nb::type_error((name + "() got an unknown field '" + k + "'").c_str());
          }
          T value{};
          std::string missing;
          for (const Field& f : *fields) {
            if (!kwargs.contains(f.name)) {
              missing += missing.empty() ? "" : ", ";
              missing += f.name;
              continue;
            }
            try {
              f.set(value, kwargs[f.name]);
            } catch (const nb::cast_error&) {
              std::string got = Py_TYPE(kwargs[f.name].ptr())->tp_name;
              throw nb::type_error((name + "." + f.name + ": a value of the wrong type (" + got + ")").c_str());
            }
          }
          if (!missing.empty()) throw nb::type_error((name + "() missing field(s): " + missing).c_str());
          if (check) check(value);
          new (self) T(std::move(value));
        },
        nb::sig("def __init__(self, **fields) -> None"));
    return cls_;
  }

 private:
  struct Field {
    const char* name;
    Setter set;
  };
  nb::class_<T> cls_;
  std::string name_;
  std::shared_ptr<std::vector<Field>> fields_;
  std::function<void(const T&)> check_;
};

}  // namespace squall::python
