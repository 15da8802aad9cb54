"""The records: a run's folder written atomically (`writer`), its TensorBoard event files, the
environment it ran in, and the solving rule applied when it is written and when it is read.
"""
