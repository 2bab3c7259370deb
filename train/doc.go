// Package train runs distributed data-parallel training on a rayo
// cluster, as Ray Train does on Ray: a group of workers (actors in one
// placement group, ranked by node and GPU) each runs the training loop, a
// registered Go function (DataParallelTrainer) or a PyTorch script
// (TorchTrainer) with the environment torchrun gives; the loop reports
// metrics and checkpoints, which the driver writes under
// RunConfig.StoragePath/Name atomically and keeps by score; when a worker
// is lost the whole group restarts from the latest checkpoint, up to
// FailureConfig.MaxFailures times, with fewer workers if fewer fit (down
// to ScalingConfig.MinWorkers).
//
// Inside the loop, GetContext gives the worker's rank and sizes, Report
// sends metrics and a checkpoint, GetCheckpoint returns the checkpoint to
// resume from, DatasetShard the worker's share of a dataset (a streaming
// split of package data), and JoinCollective the group's communicator
// (package collective) for gradients.
//
// The package uses rayo's public API only.
package train
