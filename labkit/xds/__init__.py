"""The mesh's control plane: xDS over gRPC (ADS), like istiod, for every Envoy of one local mesh."""
import os

# Every process of the mesh is forked (subprocess with preexec_fn, for PDEATHSIG) while the control
# plane's thread is inside gRPC; gRPC's fork handlers then crash the child before it execs (SIGSEGV,
# "Other threads are currently calling into gRPC, skipping fork() handlers"). No forked child of ours
# uses gRPC, so the handlers are not needed. Must be set before grpc is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
