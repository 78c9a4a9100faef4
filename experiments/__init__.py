"""Experiments that drive the running system from outside, as a workshop or a benchmark does.

`compare` places the same scenarios through both flows and reads the results back from
the read models; `bench` measures the pipeline, and the CLI's start-up, beside raw
baselines taken in the same run; `drills` kill or pause a service of a running `up`,
pause the broker or send poison, for a workshop to watch what holds. Nothing here is a
deployable service: `services/` and its composition root (`services.bootstrap`) know
nothing of this package, which sits above them in the import-linter layers
(cli → experiments → services → ...).
"""
