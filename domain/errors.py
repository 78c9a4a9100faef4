"""Error roots. Every error raised on purpose derives from OrderflowError so the CLI
can show it as one line; specific domain errors live beside their aggregate."""


class OrderflowError(Exception):
    """Root of every error orderflow raises on purpose."""


class DomainError(OrderflowError):
    """A business rule or an input the domain refuses."""


class InvalidHistory(DomainError):
    """An event stream the domain's own decisions could not have produced."""
