package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// cachedBinary returns the path of a cached job binary.
func cachedBinary(dir, hash string) (string, error) {
	if !protocol.ValidBinaryHash(hash) {
		return "", fmt.Errorf("node: malformed binary hash %q", hash)
	}
	p := filepath.Join(dir, hash)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// fetchBinary downloads a job binary from the head into the cache,
// verifies its hash, and publishes it atomically.
func fetchBinary(ctx context.Context, headAddr, token, dir string, b protocol.Binary, opts ...rpc.Option) (string, error) {
	if !protocol.ValidBinaryHash(b.Hash) {
		return "", fmt.Errorf("node: malformed binary hash %q", b.Hash)
	}
	c, err := rpc.Dial(ctx, headAddr, token, opts...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	f, err := os.CreateTemp(dir, "fetch-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	var off int64
	for {
		var reply protocol.FetchBinaryReply
		if err := c.Call(ctx, protocol.HeadFetchBinary, &protocol.FetchBinaryRequest{Hash: b.Hash, Offset: off}, &reply); err != nil {
			return "", err
		}
		if len(reply.Data) == 0 {
			if off != reply.Size {
				return "", errors.New("node: binary fetch ended early")
			}
			break
		}
		if _, err := f.Write(reply.Data); err != nil {
			return "", err
		}
		h.Write(reply.Data)
		off += int64(len(reply.Data))
		if off >= reply.Size {
			break
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.Hash {
		return "", fmt.Errorf("node: fetched binary hashes to %s, not %s", got, b.Hash)
	}
	if err := f.Chmod(0o700); err != nil { // the cluster user's alone
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	p := filepath.Join(dir, b.Hash)
	if err := os.Rename(f.Name(), p); err != nil {
		return "", err
	}
	return p, nil
}
