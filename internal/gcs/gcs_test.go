package gcs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// start starts a head that persists nothing.
func start(t *testing.T) (*Server, *rpc.Client) {
	t.Helper()
	return startOn(t, "", t.TempDir(), 0)
}

func TestBinaryUploadVerifiesHash(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	data := []byte("#!/bin/sh\necho hi\n")
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	bad := hex.EncodeToString(make([]byte, 32))

	err := c.Call(ctx, protocol.HeadUploadBinary, &protocol.UploadBinaryRequest{Hash: bad, Data: data, Last: true, Size: int64(len(data))}, nil)
	if rpc.CodeOf(err) != rpc.CodeBadRequest {
		t.Fatalf("upload with a wrong hash: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.BinariesDir, bad)); err == nil {
		t.Fatal("a binary with a wrong hash was stored")
	}
	if err := c.Call(ctx, protocol.HeadUploadBinary, &protocol.UploadBinaryRequest{Hash: "../etc", Data: data, Last: true}, nil); rpc.CodeOf(err) != rpc.CodeBadRequest {
		t.Fatalf("malformed hash: %v", err)
	}
	// Two chunks, then fetch it back.
	if err := c.Call(ctx, protocol.HeadUploadBinary, &protocol.UploadBinaryRequest{Hash: good, Data: data[:5], Size: int64(len(data))}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, protocol.HeadUploadBinary, &protocol.UploadBinaryRequest{Hash: good, Offset: 5, Data: data[5:], Last: true, Size: int64(len(data))}, nil); err != nil {
		t.Fatal(err)
	}
	var has protocol.HasBinaryReply
	if err := c.Call(ctx, protocol.HeadHasBinary, &protocol.HasBinaryRequest{Hash: good}, &has); err != nil || !has.Has {
		t.Fatalf("HasBinary after upload: %v %v", has.Has, err)
	}
	var got protocol.FetchBinaryReply
	if err := c.Call(ctx, protocol.HeadFetchBinary, &protocol.FetchBinaryRequest{Hash: good}, &got); err != nil || string(got.Data) != string(data) {
		t.Fatalf("fetch: %q %v", got.Data, err)
	}
}

func TestNodeDeclaredDeadAfterMissedHeartbeats(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	info := &protocol.NodeInfo{NodeID: "n1", Addr: "127.0.0.1:1", Total: sched.Resources{"CPU": sched.Unit}}
	if err := c.Call(ctx, protocol.HeadRegisterNode, info, &protocol.RegisterNodeReply{}); err != nil {
		t.Fatal(err)
	}
	var hb protocol.HeartbeatReply
	if err := c.Call(ctx, protocol.HeadHeartbeat, &protocol.HeartbeatRequest{NodeID: "n1"}, &hb); err != nil || hb.Unknown {
		t.Fatalf("heartbeat: %+v %v", hb, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st protocol.ClusterStatusReply
		if err := c.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Nodes) == 1 && !st.Nodes[0].Alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node never declared dead")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Call(ctx, protocol.HeadHeartbeat, &protocol.HeartbeatRequest{NodeID: "n1"}, &hb); err != nil || !hb.Unknown {
		t.Fatalf("a dead node's heartbeat must be told to re-register: %+v %v", hb, err)
	}
}

func TestJobEndsWithDriverConnection(t *testing.T) {
	s, _ := start(t)
	ctx := context.Background()
	d, err := rpc.Dial(ctx, s.Addr(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	var reply protocol.RegisterJobReply
	if err := d.Call(ctx, protocol.HeadRegisterJob, &protocol.RegisterJobRequest{DriverPid: 1}, &reply); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		alive := s.jobs[reply.JobID].Alive
		s.mu.Unlock()
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("job still alive after its driver disconnected")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
