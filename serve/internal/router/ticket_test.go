package router

import (
	"sync"
	"testing"
)

func TestTicketDoneIdempotent(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 3})
	tk, err := r.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	if tk.ReplicaID() != "a" || tk.Handle() != "h-a" {
		t.Fatalf("ticket for %q handle %v", tk.ReplicaID(), tk.Handle())
	}
	other, _ := r.Pick("")
	tk.Done()
	tk.Done()
	tk.Done()
	if c := count(t, r, "a"); c != 1 {
		t.Fatalf("after three Done of one ticket, count = %d, want 1", c)
	}
	other.Done()
	if c := count(t, r, "a"); c != 0 {
		t.Fatalf("count = %d, want 0", c)
	}
}

func TestTicketDoneConcurrent(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 3, count: 1})
	tk, err := r.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk.Done()
		}()
	}
	wg.Wait()
	if c := count(t, r, "a"); c != 1 {
		t.Fatalf("count = %d, want 1 (the hand-set one)", c)
	}
}

func TestZeroTicket(t *testing.T) {
	var tk Ticket
	tk.Done()
	if tk.ReplicaID() != "" || tk.Handle() != nil {
		t.Fatal("zero Ticket names a replica")
	}
	r := New(Options{})
	failed, err := r.Pick("")
	if err == nil {
		t.Fatal("Pick on an empty router succeeded")
	}
	failed.Done()
}
