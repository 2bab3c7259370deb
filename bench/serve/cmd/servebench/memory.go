package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// memChunk is each wrk run of row 5; its RSS is read after each.
const memChunk = 10 * time.Second

// rowMemory is row 5: the proxy's and the no-op replica's RSS after a
// warm-up of f.dur and after f.requests more requests, read between wrk
// runs at c=64.
//
// rayo's public API gives no process IDs: the replica reports its own
// (its PID method), and the proxy is the process that listens on the
// proxy's port, found through /proc/net/tcp and the processes' sockets.
func rowMemory(ctx context.Context, serveURL string, f flags) error {
	replica, err := serve.Result[int](ctx, serve.GetDeploymentHandle("noop", noopDep.Name()).Call(ctx, "PID"))
	if err != nil {
		return err
	}
	proxy, err := listener(strings.TrimPrefix(serveURL, "http://"))
	if err != nil {
		return err
	}
	header(fmt.Sprintf("Row 5: RSS of the proxy (pid %d) and of the no-op replica (pid %d), wrk c=64", proxy, replica),
		"after", "requests since warm-up", "proxy RSS", "replica RSS")
	warm, err := wrk(serveURL+"/", 64, f.dur)
	if err != nil {
		return err
	}
	total, failed := 0, warm.failed
	report := func(label string) (p, r int, err error) {
		if p, err = rss(proxy); err == nil {
			r, err = rss(replica)
		}
		row(label, thousands(float64(total)), mib(p), mib(r))
		return p, r, err
	}
	p0, r0, err := report(fmt.Sprintf("warm-up (%s requests)", thousands(float64(warm.requests))))
	if err != nil {
		return err
	}
	p1, r1 := p0, r0
	for total < f.requests {
		l, err := wrk(serveURL+"/", 64, memChunk)
		if err != nil {
			return err
		}
		total, failed = total+l.requests, failed+l.failed
		if p1, r1, err = report(fmt.Sprintf("%v of wrk", memChunk)); err != nil {
			return err
		}
	}
	row("**growth**", "", growth(p0, p1), growth(r0, r1))
	fmt.Printf("\n- failed requests: %d\n", failed)
	return nil
}

// rss reads a process's resident set size, in KiB, from /proc.
func rss(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

func mib(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func growth(before, after int) string {
	return fmt.Sprintf("%+.1f MiB (%+.1f%%)", float64(after-before)/1024, 100*float64(after-before)/float64(before))
}

// listener finds the process listening on addr (an IPv4 host:port):
// the socket's inode in /proc/net/tcp, then the process holding it.
func listener(addr string) (int, error) {
	ap, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return 0, err
	}
	ip := ap.IP.To4()
	// /proc/net/tcp writes the address as the 32-bit word in host
	// (little-endian) order, then the port.
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port)
	fh, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	inode := ""
	for sc := bufio.NewScanner(fh); sc.Scan(); {
		// sl local_address rem_address st ... inode: st 0A is LISTEN.
		if x := strings.Fields(sc.Text()); len(x) > 9 && x[1] == local && x[3] == "0A" {
			inode = x[9]
		}
	}
	if inode == "" {
		return 0, fmt.Errorf("no process listens on %s", addr)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == "socket:["+inode+"]" {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("no process of ours holds the socket listening on %s", addr)
}
