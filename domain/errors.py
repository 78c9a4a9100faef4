"""Error roots. Every error raised on purpose derives from OrderflowError so the CLI
can show it as one line; specific domain errors live beside their aggregate."""


class OrderflowError(Exception):
    """Root of every error orderflow raises on purpose."""


class DomainError(OrderflowError):
    """A business rule or an input the domain refuses."""


class InvalidHistory(DomainError):
    """An event stream the domain's own decisions could not have produced."""


class Unhandleable(OrderflowError):
    """A well-formed message a service cannot act on (e.g. about an unknown order):
    poison for the consumer runtime, which dead-letters it."""
