"""The qcog service's client: ``AsyncQcogClient``, its sync facade ``QcogClient``, the
parameter types and local data checks."""
