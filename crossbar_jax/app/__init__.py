"""The study app: everything between a Hydra configuration and the files a study writes.

The library below (`crossbar_jax`: curves, the kernel, the runner, statistics, plots) knows
nothing of configs or folders; this layer imports it, never the other way round:

* `config`: the schema of the configuration and its validation and resolution;
* `jobs`: job folders, the config hash, verified resume and setting replaced results aside;
* `study`: one job (or an in-process grid of jobs): run, summarise, write;
* `sampling`: precision-targeted sampling (`mc.target_halfwidth`);
* `sweep`: aggregation of a sweep's jobs into one table;
* `report`, `outputs`: reports and atomic, locked output files;
* `errors`, `slurm`, `search`: one-line errors, SLURM request checks, the Optuna search.
"""
