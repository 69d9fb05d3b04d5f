"""The peer of scripts/bench-gemm: C = A·B in PyTorch (fp32, MKL/oneDNN on the CPU), the same
shapes and repeats, one warm-up, medians, as many threads as the machine has cores."""
import os
import sys
import time

import torch

repeats = int(sys.argv[1])
torch.set_num_threads(os.cpu_count())
print(f"{'overload':<9} {'backend':<8} {'m x n x k':<18} {'wall s':>9} {'cpu s':>9} {'GFLOP/s':>9}")
for shape in sys.argv[2:]:
    m, n, k = (int(v) for v in shape.split(",")[:3])
    g = torch.Generator().manual_seed(1)
    a = torch.randn(m, k, generator=g)
    b = torch.randn(k, n, generator=g)
    c = torch.empty(m, n)
    torch.matmul(a, b, out=c)  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        torch.matmul(a, b, out=c)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    walls.sort()
    cpus.sort()
    w = walls[len(walls) // 2]
    print(f"{'array':<9} {'torch':<8} {f'{m}x{n}x{k}':<18} {w:9.3f} {cpus[len(cpus) // 2]:9.3f} "
          f"{2.0 * m * n * k / w / 1e9:9.1f}")
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
