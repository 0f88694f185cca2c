"""Built-in hybrid-job algorithms, the source the simulator runs for
``s3://qwidgets-builtin/qwidgets-jobs.tar.gz`` (see ``qwidgets.sim.hybrid_jobs``).

Each module has ``main(context) -> dict`` (the job's result) and
``check_hyperparameters(hyperparameters)``, which raises a ValidationError naming the
hyperparameter before a job is ever queued.
"""
