#pragma once
#include <nanobind/nanobind.h>

#include "amqp/consumer.h"

namespace squall::wsgi {
namespace nb = nanobind;

// (generation, delivery_tag, redelivered, consumer_tag, exchange, routing_key,
//  body: bytes, properties: dict of pika's BasicProperties names).
nb::tuple delivery_to_python(const amqp::Delivery& d);

}  // namespace squall::wsgi
