"""The world the spec runs in: machines and kernels, workloads (scenarios), and a scheduler."""
