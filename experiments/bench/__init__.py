"""`orderflow bench`: the live pipeline measured beside raw Kafka and raw SQL baselines,
all in one run on this machine, every service in its own process; `bench --cli`: the
CLI's start-up beside the bare interpreter's.

An experiment, not a service: it drives the system from outside through
`services.bootstrap` and `orderflow run`, and nothing in `services/` imports it.

Modules: `config` (sizes, targets), `procs` (the service processes and their /proc
figures), `kafka` and `store` (raw baselines and probes), `workload` (seeding and
placing), `pipeline` and `latency` (the phases), `hops` and `inside` (where light-load
latency goes: event times between the services, their /metrics inside them), `results`
(the document), `run`; `startup` (the CLI's start-up times), and `report` (the
documents as tables).
"""
