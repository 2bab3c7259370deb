package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/data"
)

// Context is a worker's place in its group (Ray's TrainContext).
type Context struct {
	// WorldSize is the number of workers; WorldRank this one's rank,
	// ordered by node and then GPU.
	WorldSize int `msgpack:"ws"`
	WorldRank int `msgpack:"wr"`
	// LocalRank and LocalWorldSize count the workers on this node.
	LocalRank      int `msgpack:"lr"`
	LocalWorldSize int `msgpack:"lws"`
	// NodeRank is the node's index among the group's NumNodes nodes.
	NodeRank int `msgpack:"nr"`
	NumNodes int `msgpack:"nn"`
	// ExperimentName is RunConfig.Name; StoragePath the run's directory
	// (RunConfig.StoragePath/Name), on the driver's machine.
	ExperimentName string `msgpack:"name"`
	StoragePath    string `msgpack:"path"`
	// Attempt counts the group's restarts before this one (torchrun's
	// TORCHELASTIC_RESTART_COUNT).
	Attempt int `msgpack:"att"`
	// NodeID is the worker's node; GPUIDs its GPUs.
	NodeID string `msgpack:"node"`
	GPUIDs []int  `msgpack:"gpus"`
	// Group names this attempt's collective group (JoinCollective).
	Group string `msgpack:"group"`
}

// session is a worker's training state, reached through the loop's ctx.
type session struct {
	w      *worker
	info   Context
	shards map[string]*data.DataIterator

	mu      sync.Mutex
	round   int    // the next Report's round
	restore []byte // the checkpoint to start from, fetched by start
	ckpt    *Checkpoint
	comm    *collective.Comm
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) (*session, error) {
	if s, ok := ctx.Value(sessionKey{}).(*session); ok {
		return s, nil
	}
	return nil, ErrNotInWorker
}

// GetContext returns the worker's place in its group (Ray's
// train.get_context()).
func GetContext(ctx context.Context) (Context, error) {
	s, err := sessionFrom(ctx)
	if err != nil {
		return Context{}, err
	}
	return s.info, nil
}

// Report records metrics and, optionally, a checkpoint (Ray's
// train.report). Every rank calls it the same number of times; the run's
// metrics are rank 0's, and a checkpoint given by several ranks (sharded
// state) is their files together in one directory. The checkpoint's
// files are taken before Report returns (the directory may be removed
// then); writing them to storage goes on without holding training up.
func Report(ctx context.Context, metrics map[string]any, ckpt *Checkpoint) error {
	s, err := sessionFrom(ctx)
	if err != nil {
		return err
	}
	if _, err := msgpack.Marshal(metrics); err != nil {
		return errorf(ErrInvalidConfig, "Report: metrics cannot be encoded: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := event{Round: s.round, Metrics: metrics}
	if ckpt != nil {
		if s.w.spec.Shared {
			dst := stagingDir(s.info.StoragePath, s.info.Attempt, s.round)
			if err := copyDir(dst, ckpt.path); err != nil {
				return errorf(ErrStorage, "Report: copying checkpoint %s to %s: %v", ckpt.path, dst, err)
			}
			ev.Staged = true
		} else {
			b, err := packDir(ckpt.path)
			if err != nil {
				return errorf(ErrStorage, "Report: reading checkpoint: %v", err)
			}
			ev.Checkpoint = b
		}
	}
	if err := s.w.push(ctx, ev); err != nil {
		return err
	}
	s.round++
	return nil
}

// GetCheckpoint returns the checkpoint the worker starts from (Ray's
// train.get_checkpoint()): after a restart the latest one saved, or the
// trainer's ResumeFromCheckpoint; nil when there is none. Its directory is
// the worker's own copy.
func GetCheckpoint(ctx context.Context) (*Checkpoint, error) {
	s, err := sessionFrom(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ckpt != nil || s.restore == nil {
		return s.ckpt, nil
	}
	dir, err := os.MkdirTemp(s.w.scratch, "checkpoint-")
	if err != nil {
		return nil, errorf(ErrStorage, "GetCheckpoint: %v", err)
	}
	if err := unpackInto(dir, s.restore); err != nil {
		return nil, errorf(ErrStorage, "GetCheckpoint: unpacking: %v", err)
	}
	s.ckpt, s.restore = CheckpointFromDir(dir), nil
	return s.ckpt, nil
}

// DatasetShard returns this worker's share of the trainer's dataset name
// (Ray's train.get_dataset_shard): a streaming split, read as batches;
// each IterBatches is an epoch.
func DatasetShard(ctx context.Context, name string) (*data.DataIterator, error) {
	s, err := sessionFrom(ctx)
	if err != nil {
		return nil, err
	}
	it := s.shards[name]
	if it == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoDataset, name)
	}
	return it, nil
}

// JoinCollective joins this attempt's collective group as this worker's
// rank and returns the communicator; the group is closed when the loop
// returns. Calling it again returns the same one.
func JoinCollective(ctx context.Context, opts ...collective.Option) (*collective.Comm, error) {
	s, err := sessionFrom(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.comm != nil {
		return s.comm, nil
	}
	if t := s.w.spec.CollectiveTimeout; t > 0 {
		opts = append([]collective.Option{collective.WithOpTimeout(t)}, opts...)
	}
	c, err := collective.Join(ctx, s.info.Group, s.info.WorldRank, s.info.WorldSize, opts...)
	if err != nil {
		return nil, err
	}
	s.comm = c
	return c, nil
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.comm != nil {
		_ = s.comm.Close()
		s.comm = nil
	}
}

// stagingDir is where ranks put a round's checkpoint files on shared
// storage before the driver makes it checkpoint_<round>.
func stagingDir(runDir string, attempt, round int) string {
	return filepath.Join(runDir, ".staging", fmt.Sprintf("attempt_%d", attempt), checkpointName(round))
}

// checkpointName is the directory of the checkpoint reported in round.
func checkpointName(round int) string { return fmt.Sprintf("checkpoint_%06d", round) }
