"""The results: records -> tables, exact tests, findings, advice, plots and the report.

Imports nothing from `experiments.grid` or `experiments.engine` (tests/test_imports.py), so a
report is drawn without TensorFlow.
"""
