"""The engine: run specs -> trained runs. Models, the seed axis, the training loops, one group's
execution, the grid runner and its helper processes, and the speed bench. The only part of
`experiments` that imports TensorFlow.
"""
