# oor_core/vecops.pxd -- vectorized kernels of the query layer (bodies and docs in vecops.pyx).
# No C-level contract is shared: the kernels are called from Python (oor.query) on typed buffers.
