"""The built-in hybrid-job programs (source ``s3://qwidgets-builtin/qwidgets-jobs.tar.gz``): each
module has ``main(context)`` and ``check_hyperparameters(hyperparameters)``."""
