"""`orderflow bench`: the live pipeline measured beside raw Kafka and raw SQL baselines,
all in one run on this machine, every service in its own process.

Modules: `config` (sizes, targets), `procs` (the service processes and their /proc
figures), `kafka` and `store` (raw baselines and probes), `workload` (seeding and
placing), `pipeline` and `latency` (the phases), `results` (the document), `run`.
"""
