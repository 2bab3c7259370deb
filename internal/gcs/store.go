package gcs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// The head's state lives in a bbolt file in its data directory, written
// through on every change (under the head's lock, before the change is
// answered), so that a head killed at any moment and started again on the
// same directory recovers what it had acknowledged. Heartbeat-borne state
// (free resources, demands) is not written: nodes report it again.
//
// Writes skip fsync unless Config.SyncWrites: a process crash loses
// nothing (the data is in the kernel's page cache), a machine crash may
// lose the last writes.

const stateFile = "head.db"

var (
	bucketNodes  = []byte("nodes")
	bucketJobs   = []byte("jobs")
	bucketActors = []byte("actors")
	bucketPGs    = []byte("pgs")
	bucketKV     = []byte("kv")
	allBuckets   = [][]byte{bucketNodes, bucketJobs, bucketActors, bucketPGs, bucketKV}
)

// actorRecord is what the head keeps of an actor: its public record, its
// spec (to restart it), and, while it is alive, where its worker and
// lease are, so that a restarted head can watch the worker again.
type actorRecord struct {
	Info     protocol.ActorInfo  `msgpack:"info"`
	Spec     protocol.ActorSpec  `msgpack:"spec"`
	NodeAddr string              `msgpack:"naddr,omitempty"`
	Lease    protocol.LeaseReply `msgpack:"lease,omitempty"`
}

// store is the head's persistent state. A nil *store persists nothing
// (embedded clusters).
type store struct {
	db *bolt.DB
}

// ErrDataDirInUse reports a data directory another head holds.
var ErrDataDirInUse = errors.New("gcs: the data directory is in use by another head")

func openStore(dir string, sync bool) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gcs: data directory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, stateFile), 0o600, &bolt.Options{Timeout: time.Second, NoSync: !sync,
		NoFreelistSync: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrDataDirInUse, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("gcs: opening the state in %s: %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("gcs: preparing the state in %s: %w", dir, err)
	}
	return &store{db: db}, nil
}

func (st *store) close() {
	if st != nil {
		_ = st.db.Close()
	}
}

// put writes one record.
func (st *store) put(bucket []byte, key string, v any) error {
	if st == nil {
		return nil
	}
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return st.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), b) })
}

// del removes one record.
func (st *store) del(bucket []byte, key string) error {
	if st == nil {
		return nil
	}
	return st.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(key)) })
}

// each decodes every record of a bucket and passes it to fn.
func each[T any](st *store, bucket []byte, fn func(key string, v *T)) error {
	return st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, b []byte) error {
			v := new(T)
			if err := msgpack.Unmarshal(b, v); err != nil {
				return fmt.Errorf("gcs: record %s/%s: %w", bucket, k, err)
			}
			fn(string(k), v)
			return nil
		})
	})
}

// persist writes a record and logs a failure: the change stands (the
// cluster goes on), but a restarted head would not know of it.
func (s *Server) persist(bucket []byte, key string, v any) {
	if err := s.db.put(bucket, key, v); err != nil {
		s.cfg.Log.Error("persisting the head's state failed; a restarted head will not recover this change",
			"record", string(bucket)+"/"+key, "err", err)
	}
}

// saveNodeLocked persists a node's changed state (a join, a death, a
// drain); the cluster view that heartbeats carry changes with it, at once
// (viewGen).
func (s *Server) saveNodeLocked(n *nodeEntry) {
	s.viewVersion++
	s.viewGen++
	s.persist(bucketNodes, n.state.Info.NodeID, &n.state)
}

func (s *Server) saveJobLocked(j *protocol.JobState) { s.persist(bucketJobs, j.JobID, j) }

func (s *Server) saveActorLocked(a *actorEntry) {
	if s.db == nil {
		return
	}
	rec := &actorRecord{Info: a.info, Spec: a.spec}
	if l := a.lease; l != nil {
		rec.NodeAddr, rec.Lease = l.nodeAddr, l.reply
	}
	s.persist(bucketActors, a.info.ActorID, rec)
}

func (s *Server) savePGLocked(g *pgEntry) { s.persist(bucketPGs, g.info.PGID, &g.info) }
