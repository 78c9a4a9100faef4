"""The pure domain: aggregates, events, commands and decisions.

Standard library only. Time and ids come in as arguments, so every decision is a
pure function of its inputs and can be replayed. Import from the modules
(``domain.order``, ``domain.inventory``, ``domain.payment``, ``domain.shipping``,
``domain.saga``, ``domain.commands``, ``domain.events``).
"""
