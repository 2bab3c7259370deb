package collective_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
)

func TestJoinErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		group      string
		rank, size int
		opts       []collective.Option
		want       error
	}{
		{"size 0", "g", 0, 0, nil, collective.ErrInvalidSize},
		{"rank -1", "g", -1, 2, nil, collective.ErrInvalidRank},
		{"rank = size", "g", 2, 2, nil, collective.ErrInvalidRank},
		{"empty group", "", 0, 1, nil, collective.ErrInvalidOption},
		{"slash", "a/b", 0, 1, nil, collective.ErrInvalidOption},
		{"nil option", "g", 0, 1, []collective.Option{nil}, collective.ErrInvalidOption},
		{"op timeout", "g", 0, 1, []collective.Option{collective.WithOpTimeout(0)}, collective.ErrInvalidOption},
		{"join timeout", "g", 0, 1, []collective.Option{collective.WithJoinTimeout(-1)}, collective.ErrInvalidOption},
		{"unspecified listen", "g", 0, 2, []collective.Option{collective.WithListenAddress("0.0.0.0")}, collective.ErrInvalidOption},
	}
	for _, tc := range cases {
		c, err := collective.Join(ctx, tc.group, tc.rank, tc.size, tc.opts...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestJoinTwice(t *testing.T) {
	ctx := context.Background()
	name := groupName(t)
	c, err := collective.Join(ctx, name, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collective.Join(ctx, name, 0, 1); !errors.Is(err, collective.ErrRankTaken) {
		t.Fatalf("the same rank twice: %v, want ErrRankTaken", err)
	}
	// A group of one works, with no connections.
	buf := []float64{1, 2}
	if err := collective.AllReduce(ctx, c, buf, collective.Mean); err != nil || !slices.Equal(buf, []float64{1, 2}) {
		t.Fatalf("AllReduce alone: %v %v", buf, err)
	}
	if out, err := collective.AllGather(ctx, c, buf); err != nil || !slices.Equal(out, buf) {
		t.Fatalf("AllGather alone: %v %v", out, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Close removed the record: the rank may join again.
	c, err = collective.Join(ctx, name, 0, 1)
	if err != nil {
		t.Fatalf("joining after Close: %v", err)
	}
	c.Close()
}

// TestGroupExists: rank 0 refuses a group whose secret an earlier run left,
// and DeleteGroup clears it.
func TestGroupExists(t *testing.T) {
	ctx := context.Background()
	name := groupName(t)
	if _, err := rayo.KVPut(ctx, name+"/secret", []byte(`{"secret":"AAAA","size":2}`), rayo.KVNamespace(collective.Namespace)); err != nil {
		t.Fatal(err)
	}
	if _, err := collective.Join(ctx, name, 0, 2); !errors.Is(err, collective.ErrGroupExists) {
		t.Fatalf("%v, want ErrGroupExists", err)
	}
	if err := collective.DeleteGroup(ctx, name); err != nil {
		t.Fatal(err)
	}
	if keys, err := rayo.KVList(ctx, name+"/", rayo.KVNamespace(collective.Namespace)); err != nil || len(keys) != 0 {
		t.Fatalf("left after DeleteGroup: %q %v", keys, err)
	}
}

func TestJoinTimeout(t *testing.T) {
	_, err := collective.Join(context.Background(), groupName(t), 0, 2, collective.WithJoinTimeout(100*time.Millisecond))
	var re *collective.RankError
	if !errors.Is(err, collective.ErrTimeout) || !errors.As(err, &re) || re.Rank != 1 {
		t.Fatalf("%v, want ErrTimeout naming rank 1", err)
	}
}

func TestJoinCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := collective.Join(ctx, groupName(t), 1, 2)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want context.Canceled", err)
	}
}

func TestSizeMismatch(t *testing.T) {
	name := groupName(t)
	errs := each(2, func(r int) error {
		c, err := collective.Join(context.Background(), name, r, 2+r, collective.WithJoinTimeout(5*time.Second))
		if c != nil {
			c.Close()
		}
		return err
	})
	// Whichever reads the other's record first fails with ErrMismatch;
	// rank 0's failure removes the secret, so rank 1 may then only time
	// out waiting for it. Neither joins.
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("a member joined a group that disagreed on its size: %v", errs)
	}
	if !errors.Is(errs[0], collective.ErrMismatch) && !errors.Is(errs[1], collective.ErrMismatch) {
		t.Fatalf("no ErrMismatch: %v", errs)
	}
}
