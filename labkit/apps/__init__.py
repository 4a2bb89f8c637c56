"""Sample application processes that stand in for the container images of the labs.

Each app is started by the local runtime as ``python -m labkit.apps.<module>``; the
environment contract they share (LABKIT_BIND, LABKIT_RESOLVE_FILE, TLS files, pod
identity) lives in :mod:`labkit.apps.common` and :mod:`labkit.apps.net`, and
:mod:`labkit.apps.images` maps an image reference to the module that emulates it.

Keep this file free of imports: every app process imports the package first, and
startup time is readiness time.
"""
