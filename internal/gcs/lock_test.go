package gcs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// TestUploadDoesNotTakeHeadLock: a binary's upload (disk writes, hashing
// the whole file) runs without the head's lock, which heartbeats need: it
// completes while another goroutine holds s.mu.
func TestUploadDoesNotTakeHeadLock(t *testing.T) {
	s, _ := start(t)
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	half := int64(len(data) / 2)

	done := make(chan error, 1)
	s.mu.Lock()
	go func() {
		ctx := context.Background()
		if _, err := s.uploadBinary(ctx, &protocol.UploadBinaryRequest{Hash: hash, Data: data[:half], Size: int64(len(data))}); err != nil {
			done <- err
			return
		}
		_, err := s.uploadBinary(ctx, &protocol.UploadBinaryRequest{Hash: hash, Offset: half, Data: data[half:], Last: true, Size: int64(len(data))})
		done <- err
	}()
	select {
	case err := <-done:
		s.mu.Unlock()
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
	case <-time.After(time.Minute): // a bound for the failure, not a wait for success
		s.mu.Unlock()
		<-done
		t.Fatal("an upload waited for the head's lock")
	}
	if _, err := os.Stat(s.binaryPath(hash)); err != nil {
		t.Fatalf("the uploaded binary was not stored: %v", err)
	}
}
