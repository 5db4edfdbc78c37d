"""Side-by-side benchmark of Tempyral and the real Temporal dev server on `temporalio` SDK workloads.

Run it with `python -m bench --help`.
"""
