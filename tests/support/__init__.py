"""What the tests and the benchmarks share: the data files, throwaway databases and real server
processes started as ``make run`` starts them. It imports nothing from ``bench/``."""
