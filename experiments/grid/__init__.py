"""The grid: a TOML file read into validated run specs (`config`), and the tasks they train on.

Imports nothing of the project but `experiments.vocabulary`.
"""
