#pragma once
// The typed objects of squall._core: config structs, enums, named results.
#include <nanobind/nanobind.h>

namespace squall::python {

void bind_config_types(nanobind::module_& m);

}  // namespace squall::python
