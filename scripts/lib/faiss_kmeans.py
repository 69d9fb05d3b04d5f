"""Seconds per k-means iteration of faiss on the CPU, on the vectors QuantizeBench wrote.

usage: faiss_kmeans.py FILE N D K ITERS THREADS
Same start as the Java side (the first K vectors), all points used (no subsampling),
per-iteration time = (t(ITERS + 1) - t(1)) / ITERS, median of three runs.
"""
import sys
import time

import faiss
import numpy as np

path, n, d, k, iters, threads = sys.argv[1], *map(int, sys.argv[2:7])
faiss.omp_set_num_threads(threads)
x = np.fromfile(path, dtype='<f4').reshape(n, d)
init = np.ascontiguousarray(x[:k])


def run(niter):
    km = faiss.Kmeans(d, k, niter=niter, seed=1, max_points_per_centroid=n, min_points_per_centroid=1,
                      verbose=False)
    t0 = time.perf_counter()
    km.train(x, init_centroids=init)
    return time.perf_counter() - t0


run(1)  # warm-up
per = sorted((run(iters + 1) - run(1)) / iters for _ in range(3))
print(f"{n}\t{d}\t{k}\t{iters}\t{per[1]:.4f}\t{faiss.__version__}")
