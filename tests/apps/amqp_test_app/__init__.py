"""A Django app for the AMQP consumer tests: what the handlers write."""
