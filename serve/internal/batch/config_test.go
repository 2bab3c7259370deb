package batch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantErr   string // substring naming the field; "" for none
		wantBatch int
		wantWait  time.Duration // as BatchWaitTimeout() reports it
		wantConc  int
	}{
		{name: "zero takes Ray's defaults", cfg: Config{},
			wantBatch: 10, wantWait: 10 * time.Millisecond, wantConc: 1},
		{name: "explicit", cfg: Config{MaxBatchSize: 32, BatchWaitTimeout: time.Second, MaxConcurrentBatches: 4},
			wantBatch: 32, wantWait: time.Second, wantConc: 4},
		{name: "NoWait", cfg: Config{BatchWaitTimeout: NoWait},
			wantBatch: 10, wantWait: NoWait, wantConc: 1},
		{name: "negative MaxBatchSize", cfg: Config{MaxBatchSize: -1}, wantErr: "MaxBatchSize"},
		{name: "negative BatchWaitTimeout", cfg: Config{BatchWaitTimeout: -time.Second}, wantErr: "BatchWaitTimeout"},
		{name: "negative MaxConcurrentBatches", cfg: Config{MaxConcurrentBatches: -2}, wantErr: "MaxConcurrentBatches"},
	}
	fn := func(_ context.Context, items []int) ([]int, error) { return items, nil }
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(fn, tc.cfg)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: err %v, want ErrInvalidConfig naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := b.MaxBatchSize(); got != tc.wantBatch {
				t.Errorf("MaxBatchSize %d, want %d", got, tc.wantBatch)
			}
			if got := b.BatchWaitTimeout(); got != tc.wantWait {
				t.Errorf("BatchWaitTimeout %v, want %v", got, tc.wantWait)
			}
			if b.maxConc != tc.wantConc {
				t.Errorf("MaxConcurrentBatches %d, want %d", b.maxConc, tc.wantConc)
			}
		})
	}
}

func TestNewNilFn(t *testing.T) {
	_, err := New[int, int](nil, Config{})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "fn") {
		t.Fatalf("err %v, want ErrInvalidConfig naming fn", err)
	}
}

func TestSettersRejectBadValues(t *testing.T) {
	b, _ := newTest(t, newRecorder(false).fn, Config{MaxBatchSize: 4, BatchWaitTimeout: time.Second})
	if err := b.SetMaxBatchSize(-1); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetMaxBatchSize(-1): %v", err)
	}
	if err := b.SetBatchWaitTimeout(-5 * time.Millisecond); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SetBatchWaitTimeout(-5ms): %v", err)
	}
	if b.MaxBatchSize() != 4 || b.BatchWaitTimeout() != time.Second {
		t.Errorf("a refused value changed the batcher: %d %v", b.MaxBatchSize(), b.BatchWaitTimeout())
	}
	if err := b.SetMaxBatchSize(0); err != nil || b.MaxBatchSize() != DefaultMaxBatchSize {
		t.Errorf("SetMaxBatchSize(0): %v, size %d", err, b.MaxBatchSize())
	}
	if err := b.SetBatchWaitTimeout(0); err != nil || b.BatchWaitTimeout() != DefaultBatchWaitTimeout {
		t.Errorf("SetBatchWaitTimeout(0): %v, wait %v", err, b.BatchWaitTimeout())
	}
}
