// Package gpu finds a node's NVIDIA GPUs and hands out their IDs to tasks.
//
// Detection runs nvidia-smi rather than linking NVML, so the rayo binary
// stays static (CGO_ENABLED=0) and runs on machines without a GPU driver:
// where nvidia-smi is not installed, Detect reports no GPUs and no error.
//
// An Allocator tracks which of a node's GPU IDs are in use, with Ray's
// rules for fractional requests: a whole number n takes n entirely free
// GPUs, a fraction 0 < f < 1 takes f of one GPU (packed onto a GPU that is
// already partly used where one has room), and amounts such as 1.5 are
// refused. The worker that runs a task is then given the IDs it holds via
// CUDA_VISIBLE_DEVICES (see CUDAVisibleDevices).
//
// AcceleratorType turns a model name such as "NVIDIA H100 80GB HBM3" into
// the short label ("H100") that Ray uses for its accelerator_type resource.
package gpu
