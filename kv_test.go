package rayo_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rayo-dev/rayo"
)

// tKVGet reads the store from a worker.
var tKVGet = rayo.Register[string]("test.kvGet", func(ctx context.Context, ns, key string) (string, error) {
	v, err := rayo.KVGet(ctx, key, rayo.KVNamespace(ns))
	return string(v), err
})

func TestKV(t *testing.T) {
	ctx := initEmbedded(t)
	added, err := rayo.KVPut(ctx, "a/1", []byte("one"))
	if err != nil || !added {
		t.Fatalf("first put: %v %v", added, err)
	}
	// Overwrite is the default, as Ray's: the value changes, nothing is added.
	if added, err := rayo.KVPut(ctx, "a/1", []byte("uno")); err != nil || added {
		t.Fatalf("overwrite: %v %v", added, err)
	}
	// Create-only keeps the value.
	if added, err := rayo.KVPut(ctx, "a/1", []byte("eins"), rayo.KVNoOverwrite()); err != nil || added {
		t.Fatalf("create-only over a value: %v %v", added, err)
	}
	if v, err := rayo.KVGet(ctx, "a/1"); err != nil || string(v) != "uno" {
		t.Fatalf("get: %q %v", v, err)
	}
	if added, err := rayo.KVPut(ctx, "a/2", nil, rayo.KVNoOverwrite()); err != nil || !added {
		t.Fatalf("create-only of a new key: %v %v", added, err)
	}
	if v, err := rayo.KVGet(ctx, "a/2"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("an empty value: %v %v", v, err)
	}
	if _, err := rayo.KVPut(ctx, "b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Namespaces are apart.
	if _, err := rayo.KVPut(ctx, "a/1", []byte("other"), rayo.KVNamespace("lib")); err != nil {
		t.Fatal(err)
	}
	if keys, err := rayo.KVList(ctx, "a/"); err != nil || !slices.Equal(keys, []string{"a/1", "a/2"}) {
		t.Fatalf("list a/: %v %v", keys, err)
	}
	if keys, err := rayo.KVList(ctx, ""); err != nil || !slices.Equal(keys, []string{"a/1", "a/2", "b"}) {
		t.Fatalf("list all: %v %v", keys, err)
	}
	if keys, err := rayo.KVList(ctx, "", rayo.KVNamespace("lib")); err != nil || !slices.Equal(keys, []string{"a/1"}) {
		t.Fatalf("list lib: %v %v", keys, err)
	}
	if keys, err := rayo.KVList(ctx, "zzz"); err != nil || keys == nil || len(keys) != 0 {
		t.Fatalf("list of nothing: %v %v", keys, err)
	}
	// rayo's own records (the job manager's namespace) are out of reach.
	if keys, err := rayo.KVList(ctx, "", rayo.KVNamespace("jobs")); err != nil || len(keys) != 0 {
		t.Fatalf("the jobs namespace: %v %v", keys, err)
	}
	// A worker sees the same store.
	if v, err := tKVGet.Remote("lib", "a/1").Get(ctx); err != nil || v != "other" {
		t.Fatalf("get in a task: %q %v", v, err)
	}
	if _, err := tKVGet.Remote("", "missing").Get(ctx); !errors.Is(err, rayo.ErrKVNotFound) {
		t.Fatalf("a missing key in a task: %v", err)
	}
	if deleted, err := rayo.KVDelete(ctx, "a/1"); err != nil || !deleted {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if deleted, err := rayo.KVDelete(ctx, "a/1"); err != nil || deleted {
		t.Fatalf("delete again: %v %v", deleted, err)
	}
	if _, err := rayo.KVGet(ctx, "a/1"); !errors.Is(err, rayo.ErrKVNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if v, err := rayo.KVGet(ctx, "a/1", rayo.KVNamespace("lib")); err != nil || string(v) != "other" {
		t.Fatalf("the other namespace after delete: %q %v", v, err)
	}
	// Bad input.
	if _, err := rayo.KVPut(ctx, "", []byte("v")); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("an empty key: %v", err)
	}
	// A key the head's state store could not keep (bbolt's limit is
	// 32 KiB) is refused, not lost at the next restart.
	if _, err := rayo.KVPut(ctx, strings.Repeat("k", 40<<10), []byte("v")); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a 40 KiB key: %v, want ErrInvalidOption", err)
	}
	if _, err := rayo.KVPut(ctx, "big", bytes.Repeat([]byte{1}, 1<<20+1)); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a value over 1 MiB: %v", err)
	}
	if _, err := rayo.KVPut(ctx, "max", bytes.Repeat([]byte{1}, 1<<20)); err != nil {
		t.Fatalf("a value of 1 MiB: %v", err)
	}
	if _, err := rayo.KVGet(ctx, "k", rayo.KVNamespace("a\x00b")); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a NUL in a namespace: %v", err)
	}
	if _, err := rayo.KVGet(ctx, "k", rayo.KVNoOverwrite()); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("KVNoOverwrite on a get: %v", err)
	}
	if _, err := rayo.KVList(ctx, "", nil); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a nil option: %v", err)
	}
}

// Of concurrent create-only puts of one key, exactly one adds, and its
// value is the one kept.
func TestKVCreateOnlyRace(t *testing.T) {
	ctx := initEmbedded(t)
	for round := range 20 {
		key := "race/" + string(rune('a'+round))
		const n = 8
		var wg sync.WaitGroup
		added := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				added[i], errs[i] = rayo.KVPut(ctx, key, []byte{byte(i)}, rayo.KVNoOverwrite())
			}()
		}
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if added[i] {
				if winner >= 0 {
					t.Fatalf("round %d: puts %d and %d both added", round, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no put added", round)
		}
		if v, err := rayo.KVGet(ctx, key); err != nil || !bytes.Equal(v, []byte{byte(winner)}) {
			t.Fatalf("round %d: kept %v %v, want put %d's", round, v, err, winner)
		}
	}
}
