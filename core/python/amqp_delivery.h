#pragma once
#include <nanobind/nanobind.h>

#include "amqp/consumer.h"

namespace squall::python {
namespace nb = nanobind;

// A message's properties as a dict of pika's BasicProperties names.
nb::dict properties_to_python(const amqp::Properties& p);

}  // namespace squall::python
