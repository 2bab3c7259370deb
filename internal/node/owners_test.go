package node

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/rpc"
)

// dialErr is what rpc.Dial returns for addr.
func dialErr(t *testing.T, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, addr, "tok")
	if err == nil {
		_ = c.Close()
		t.Fatalf("dial %s succeeded", addr)
	}
	return err
}

// An owner's objects go only on proof that it is gone: a refused address
// (twice in a row), or failures that last ownerUnreachable. A server that
// closes connections at the hello (shedding an unauthenticated flood) or
// a dial that times out proves nothing, however often it happens.
func TestOwnerDeathNeedsProof(t *testing.T) {
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()
	refused := dialErr(t, closedAddr)
	if !ownerRefused(refused) {
		t.Fatalf("a refused dial is not taken as proof: %v", refused)
	}

	// A listener that hangs up at the hello, as a server over its cap does.
	shed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shed.Close() })
	go func() {
		for {
			c, err := shed.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	closedAtHello := dialErr(t, shed.Addr().String())
	if ownerRefused(closedAtHello) {
		t.Fatalf("a connection closed at the hello is taken as proof of death: %v", closedAtHello)
	}

	start := time.Now()
	var d ownerDeath
	// Any number of inconclusive failures within ownerUnreachable: alive.
	for i := range 1000 {
		now := start.Add(time.Duration(i) * (ownerUnreachable - time.Second) / 1000)
		if dead, pause := d.failed(closedAtHello, now); dead || pause <= 0 || pause > ownerMaxBackoff {
			t.Fatalf("failure %d at +%v: dead %v, pause %v", i, now.Sub(start), dead, pause)
		}
	}
	// One refusal among them is not enough; a second in a row is.
	now := start.Add(ownerUnreachable / 2)
	d = ownerDeath{}
	if dead, _ := d.failed(refused, now); dead {
		t.Fatal("one refusal took the owner for dead")
	}
	if dead, _ := d.failed(closedAtHello, now); dead {
		t.Fatal("a refusal then an inconclusive failure took the owner for dead")
	}
	if dead, _ := d.failed(refused, now); dead {
		t.Fatal("a refusal after an inconclusive failure counted as the second in a row")
	}
	if dead, _ := d.failed(refused, now); !dead {
		t.Fatal("two refusals in a row did not take the owner for dead")
	}
	// Inconclusive failures lasting ownerUnreachable: dead (its machine
	// died, say).
	d = ownerDeath{}
	if dead, _ := d.failed(closedAtHello, start); dead {
		t.Fatal("dead at the first failure")
	}
	if dead, _ := d.failed(closedAtHello, start.Add(ownerUnreachable)); !dead {
		t.Fatal("still alive after failing for ownerUnreachable")
	}
}
