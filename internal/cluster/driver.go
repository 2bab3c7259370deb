package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// AuthError turns the transport's refused hello into rayo's
// ErrUnauthenticated, keeping the transport's message (Ray reports a wrong
// cluster token as an authentication failure of the GCS client).
func AuthError(err error) error {
	if errors.Is(err, rpc.ErrUnauthenticated) {
		return fmt.Errorf("%w: %v", errs.ErrUnauthenticated, err)
	}
	return err
}

// JoinConfig is what a driver needs to join a running cluster (Ray's
// ray.init(address=...) arguments).
type JoinConfig struct {
	// HeadAddr and Token are the cluster's (already resolved).
	HeadAddr, Token string
	TLS             *rpc.TLS
	// NodeAddr, when set, is the node to submit through (it must be a live
	// node of the cluster); otherwise PickNode chooses.
	NodeAddr string
	// Binary is the executable the job's workers run ("": this program's).
	Binary string
}

// Joined is the result of the head handshake (what Ray's driver learns
// from the GCS: its raylet, the dashboard's address).
type Joined struct {
	NodeAddr, NodeID string
	// DashboardAddr is the head's dashboard ("" if it runs none).
	DashboardAddr string
	// Binary is the program's executable as the head now holds it.
	Binary protocol.Binary
}

// nodeWait bounds Join's wait for a cluster's first live node.
const nodeWait = 30 * time.Second

// Join does a driver's handshake with the head of a running cluster (as
// Ray's ray.init(address=...) asks the GCS for the local raylet): it
// asks for the nodes, picks the one to submit through, and uploads this
// program's executable unless the head has it (so that nodes which cannot
// read it can run workers). The connection is closed on return; the
// driver's runtime opens its own.
func Join(ctx context.Context, cfg JoinConfig) (*Joined, error) {
	head, err := rpc.Dial(ctx, cfg.HeadAddr, cfg.Token, rpc.WithTLS(cfg.TLS))
	if err != nil {
		return nil, fmt.Errorf("rayo: connecting to the head at %s: %w", cfg.HeadAddr, AuthError(err))
	}
	defer head.Close()
	// A head that has just started (rayo start --head, then a driver at
	// once) may not have its own node registered yet: wait a while for
	// one rather than fail.
	var st protocol.ClusterStatusReply
	deadline := time.Now().Add(nodeWait)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		if err := head.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
			return nil, fmt.Errorf("rayo: asking the head for its nodes: %w", err)
		}
		if addr, _ := PickNode(st.Nodes); addr != "" || cfg.NodeAddr != "" || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	j := &Joined{DashboardAddr: st.DashboardAddr}
	j.NodeAddr, j.NodeID = PickNode(st.Nodes)
	if cfg.NodeAddr != "" {
		j.NodeAddr, j.NodeID = cfg.NodeAddr, ""
		for _, n := range st.Nodes {
			if n.Info.Addr == cfg.NodeAddr && n.Alive {
				j.NodeID = n.Info.NodeID
			}
		}
		if j.NodeID == "" {
			return nil, fmt.Errorf("%w: WithNodeAddress(%q): no live node of the cluster at %s listens there", errs.ErrInvalidOption, cfg.NodeAddr, cfg.HeadAddr)
		}
	}
	if j.NodeAddr == "" {
		return nil, fmt.Errorf("rayo: the cluster at %s has no live node", cfg.HeadAddr)
	}
	if j.Binary, err = UploadBinary(ctx, head, cfg.Binary); err != nil {
		return nil, err
	}
	return j, nil
}

// PickNode chooses the node a driver submits through (Ray's driver uses
// its host's raylet): one on this host,
// the head's first, else the head's node.
func PickNode(nodes []protocol.NodeState) (addr, id string) {
	host, _ := os.Hostname()
	var best *protocol.NodeState
	rank := func(n *protocol.NodeState) int {
		r := 0
		if n.Info.Hostname == host {
			r += 2
		}
		if n.Info.IsHead {
			r++
		}
		return r
	}
	for i := range nodes {
		n := &nodes[i]
		if !n.Alive {
			continue
		}
		if best == nil || rank(n) > rank(best) {
			best = n
		}
	}
	if best == nil {
		return "", ""
	}
	return best.Info.Addr, best.Info.NodeID
}

// LocalBinary describes this program's executable by path, for a cluster
// on this machine whose nodes read it in place (Ray's local ray.init()
// needs no upload either).
func LocalBinary(path string) (protocol.Binary, error) {
	exe, err := jobExecutable(path)
	if err != nil {
		return protocol.Binary{}, err
	}
	st, err := os.Stat(exe)
	if err != nil {
		return protocol.Binary{}, err
	}
	return protocol.Binary{Path: exe, Size: st.Size(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}, nil
}

// jobExecutable is the executable a job's workers run: path, made
// absolute, or this program's own when path is "".
func jobExecutable(path string) (string, error) {
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("rayo: finding this program's executable: %w", err)
		}
		return exe, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: job binary %q: %v", errs.ErrInvalidOption, path, err)
	}
	st, err := os.Stat(abs)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: job binary %q is not an executable file", errs.ErrInvalidOption, path)
	}
	return abs, nil
}

// UploadBinary sends this program's executable to the head unless it has
// it already (content-addressed, as Ray uploads a runtime_env package to
// the GCS by its hash).
func UploadBinary(ctx context.Context, head *rpc.Client, path string) (protocol.Binary, error) {
	exe, err := jobExecutable(path)
	if err != nil {
		return protocol.Binary{}, err
	}
	f, err := os.Open(exe)
	if err != nil {
		return protocol.Binary{}, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return protocol.Binary{}, err
	}
	bin := protocol.Binary{Hash: hex.EncodeToString(h.Sum(nil)), Size: size, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	var has protocol.HasBinaryReply
	if err := head.Call(ctx, protocol.HeadHasBinary, &protocol.HasBinaryRequest{Hash: bin.Hash}, &has); err != nil {
		return bin, fmt.Errorf("rayo: uploading the job binary: %w", err)
	}
	if has.Has {
		return bin, nil
	}
	const chunk = 4 << 20
	buf := make([]byte, chunk)
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return bin, err
		}
		last := off+int64(n) >= size
		req := &protocol.UploadBinaryRequest{Hash: bin.Hash, Offset: off, Data: buf[:n], Last: last, Size: size}
		if err := head.Call(ctx, protocol.HeadUploadBinary, req, nil); err != nil {
			return bin, fmt.Errorf("rayo: uploading the job binary: %w", err)
		}
		off += int64(n)
		if last {
			return bin, nil
		}
	}
}

// DriverConfig is what a driver's runtime needs to register its job
// (Ray's ray.init job_config and namespace).
type DriverConfig struct {
	HeadAddr, NodeAddr, Token string
	TLS                       *rpc.TLS
	// Listen is where the driver serves its objects and replies.
	Listen  string
	Binary  protocol.Binary
	LogSink func(*protocol.LogBatch)
	Log     *slog.Logger
	// HeadWait bounds how long calls that need the head wait for it.
	HeadWait time.Duration
	// Env is every worker's environment; Namespace the job's ("" for an
	// anonymous one of its own, as in Ray).
	Env       map[string]string
	Namespace string
	// Entrypoint is what the job's driver runs, for people ("": this
	// program's executable).
	Entrypoint string
}

// ConnectDriver starts a driver's runtime and registers its job (Ray's
// driver registering with the GCS). The job lives as long as the
// runtime's connection to the head; the runtime attaches it again if the
// head restarts. On failure nothing is left running.
func ConnectDriver(ctx context.Context, cfg DriverConfig) (*core.Runtime, error) {
	rt, err := core.New(core.Config{Token: cfg.Token, TLS: cfg.TLS, Listen: cfg.Listen, NodeAddr: cfg.NodeAddr,
		LogSink: cfg.LogSink, Log: cfg.Log, HeadWait: cfg.HeadWait})
	if err != nil {
		return nil, AuthError(err)
	}
	exe := cfg.Entrypoint
	if exe == "" {
		exe, _ = os.Executable()
	}
	rt.SetJob(protocol.JobSpec{HeadAddr: cfg.HeadAddr})
	jobID, err := rt.RegisterJob(ctx, &protocol.RegisterJobRequest{DriverAddr: rt.Addr(), DriverPid: os.Getpid(), Entrypoint: exe, Binary: cfg.Binary})
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("rayo: registering the job at %s: %w", cfg.HeadAddr, AuthError(err))
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = "anonymous-" + jobID + "-" + core.NewID()
	}
	rt.SetJob(protocol.JobSpec{JobID: jobID, DriverAddr: rt.Addr(), HeadAddr: cfg.HeadAddr, Binary: cfg.Binary, Env: cfg.Env, Namespace: ns})
	return rt, nil
}
