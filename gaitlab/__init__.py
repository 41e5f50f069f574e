"""gaitlab: experiment drivers that produce the tables under bench/results/.

They import the gaitcompress library and are never imported by it: the library holds the methods, this package
holds the studies run with them (ablations, sensitivity sweeps, result tables).
"""
