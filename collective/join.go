package collective

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo"
)

// Namespace is the rayo key-value namespace that holds the groups'
// rendezvous records: "<group>/secret" (written once by rank 0) and
// "<group>/member/<rank>" (each member's address).
const Namespace = rayo.ReservedPrefix + "collective"

// Defaults of the options.
const (
	DefaultJoinTimeout = 2 * time.Minute
	DefaultOpTimeout   = 5 * time.Minute
)

// Option configures Join.
type Option func(*options)

type options struct {
	listen      string
	advertise   string
	joinTimeout time.Duration
	opTimeout   time.Duration
	noShm       bool
	shmPiece    int
	err         error
}

// WithListenAddress sets the address the member listens on: "host" or
// "host:port" (default "127.0.0.1:0", enough when every member runs on one
// machine). For a group across machines, listen on an interface the others
// reach ("0.0.0.0" with WithAdvertiseHost, or the machine's address).
func WithListenAddress(addr string) Option { return func(o *options) { o.listen = addr } }

// WithAdvertiseHost sets the host the other members dial (default: the
// listen address's host, which must then not be unspecified).
func WithAdvertiseHost(host string) Option { return func(o *options) { o.advertise = host } }

// WithJoinTimeout bounds Join's wait for the other members (default
// DefaultJoinTimeout).
func WithJoinTimeout(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.err = fmt.Errorf("%w: join timeout %v", ErrInvalidOption, d)
		}
		o.joinTimeout = d
	}
}

// WithOpTimeout bounds each operation (default DefaultOpTimeout): one that
// takes longer returns a RankError with ErrTimeout naming the rank it
// waited on.
func WithOpTimeout(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.err = fmt.Errorf("%w: op timeout %v", ErrInvalidOption, d)
		}
		o.opTimeout = d
	}
}

// WithoutSharedMemory makes the member refuse shared memory, so that its
// group runs over TCP even when every member is on one host (to measure
// or test the network path). By default a group whose members all run on
// one host moves its data through a shared-memory segment instead of
// sockets.
func WithoutSharedMemory() Option { return func(o *options) { o.noShm = true } }

// withShmPiece sets the size of half a slot of the shared segment (tests
// use small pieces to take the many-piece paths). Rank 0's choice is the
// group's.
func withShmPiece(bytes int) Option {
	return func(o *options) {
		if bytes < 4096 || bytes%4096 != 0 {
			o.err = fmt.Errorf("%w: shared-memory piece %d", ErrInvalidOption, bytes)
		}
		o.shmPiece = bytes
	}
}

// Comm is one member's handle on a group: rank, size, the connections to
// its ring neighbours and, where the group shares memory, its mapping of
// the segment. Operations on one Comm run one at a time (a mutex); Close
// may be called at any time, from any goroutine.
type Comm struct {
	group      string
	rank, size int
	opTimeout  time.Duration

	next, prev net.Conn // sends go to rank+1, receives come from rank-1
	nextAddr   string
	w          *bufio.Writer
	r          *bufio.Reader

	mu      sync.Mutex // one operation at a time; guards the fields below
	seq     uint64
	broken  error
	scratch []uint64 // receive buffer for reductions (uint64: 8-byte aligned)

	// shm is the shared segment when the group uses it (set by Join,
	// unmapped by Close under mu); the ring's connections then carry no
	// data and watchers tell when a neighbour's end closes.
	shm      *shmSeg
	watchers sync.WaitGroup

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// transport is "shm" or "tcp" (or "" for a group of one).
func (c *Comm) transport() string {
	switch {
	case c.size == 1:
		return ""
	case c.shm != nil:
		return "shm"
	}
	return "tcp"
}

// Rank is this member's rank in [0, Size()).
func (c *Comm) Rank() int { return c.rank }

// Size is the number of members of the group.
func (c *Comm) Size() int { return c.size }

// Group is the group's name.
func (c *Comm) Group() string { return c.group }

type memberRecord struct {
	Addr string `json:"addr"`
	Size int    `json:"size"`
	// Host is the member's hostIdentity, or "" where it does not share
	// memory (WithoutSharedMemory, or unknown).
	Host string `json:"host,omitempty"`
	// ShmDir, in rank 0's record, is where it creates the segment.
	ShmDir string `json:"shmdir,omitempty"`
}

type secretRecord struct {
	Secret []byte `json:"secret"`
	Size   int    `json:"size"`
}

func secretKey(group string) string        { return group + "/secret" }
func memberPrefix(group string) string     { return group + "/member/" }
func memberKey(group string, r int) string { return memberPrefix(group) + strconv.Itoa(r) }

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Join makes the caller the member rank of the group of size members
// named group, and returns when every member has joined and the ring of
// connections is up. Each member listens on a TCP port, publishes its
// address in rayo's key-value store (Namespace), waits for the others
// (polling, bounded by ctx and WithJoinTimeout) and connects to rank+1;
// rank 0 creates the group's secret, with which every connection proves
// itself both ways (HMAC over nonces; the secret never travels). When
// every member runs on one host (and none asked WithoutSharedMemory),
// rank 0 also creates a shared-memory segment that every member maps, and
// the operations go through it; the connections then only tell the
// members that one of them died. A group's name must be unique to the run
// (records of a run that did not Close stay; DeleteGroup removes them).
func Join(ctx context.Context, group string, rank, size int, opts ...Option) (*Comm, error) {
	o := options{listen: "127.0.0.1:0", joinTimeout: DefaultJoinTimeout, opTimeout: DefaultOpTimeout, shmPiece: defaultShmPiece}
	for _, f := range opts {
		if f == nil {
			return nil, fmt.Errorf("%w: a nil Option", ErrInvalidOption)
		}
		f(&o)
	}
	switch {
	case o.err != nil:
		return nil, o.err
	case size < 1:
		return nil, fmt.Errorf("%w: size %d", ErrInvalidSize, size)
	case rank < 0 || rank >= size:
		return nil, fmt.Errorf("%w: rank %d of a group of %d", ErrInvalidRank, rank, size)
	case group == "" || strings.ContainsAny(group, "/\x00"):
		return nil, fmt.Errorf("%w: group name %q (non-empty, without '/' or NUL)", ErrInvalidOption, group)
	case !littleEndian:
		return nil, fmt.Errorf("%w: big-endian", ErrUnsupported)
	}
	c := &Comm{group: group, rank: rank, size: size, opTimeout: o.opTimeout}
	jctx, cancel := context.WithTimeout(ctx, o.joinTimeout)
	defer cancel()

	if size == 1 {
		rec, _ := json.Marshal(memberRecord{Size: 1})
		if err := c.publish(jctx, rec); err != nil {
			return nil, err
		}
		return c, nil
	}

	ln, addr, err := listen(o)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	mrec := memberRecord{Addr: addr, Size: size}
	if !o.noShm {
		mrec.Host = hostIdentity()
		if rank == 0 {
			mrec.ShmDir = shmDir()
		}
	}
	rec, _ := json.Marshal(mrec)
	if err := c.publish(jctx, rec); err != nil {
		return nil, err
	}
	var (
		seg     *shmSeg
		segFile string // the segment's path, while it may exist
		segErr  error
	)
	fail := func(err error) (*Comm, error) {
		c.closeConns()
		if segFile != "" {
			os.Remove(segFile)
		}
		if seg != nil {
			seg.unmap()
		}
		c.removeRecords()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("collective: join %q: %w", group, ctx.Err())
		}
		return nil, err
	}
	if rank == 0 {
		secret := make([]byte, 32)
		rand.Read(secret) // never fails (crypto/rand)
		v, _ := json.Marshal(secretRecord{Secret: secret, Size: size})
		added, err := rayo.KVPut(jctx, secretKey(group), v, rayo.KVNoOverwrite(), rayo.KVNamespace(Namespace))
		if err != nil {
			return fail(fmt.Errorf("collective: join %q: %w", group, err))
		}
		if !added {
			// Remove only our member record, not the other run's secret.
			c.rank = -1 - rank
			c.removeRecords()
			return nil, fmt.Errorf("%w: %q has a secret already", ErrGroupExists, group)
		}
	}
	secret, recs, err := c.waitMembers(jctx)
	if err != nil {
		return fail(err)
	}
	nextAddr := recs[c.nextRank()].Addr
	if sameHost(recs) {
		segFile = segPath(recs[0].ShmDir, group, secret)
		if rank == 0 {
			// Before the ring's barrier below, so that it exists when the
			// others, past it, open it.
			// A piece holds at least 16 elements of each member's chunk.
			half := max(o.shmPiece, (size*512+4095)&^4095)
			seg, segErr = createSeg(segFile, size, half)
		}
	}

	deadline, _ := jctx.Deadline()
	type accepted struct {
		conn net.Conn
		err  error
	}
	acc := make(chan accepted, 1)
	go func() {
		conn, err := acceptPrev(ln, c, secret, deadline)
		acc <- accepted{conn, err}
	}()
	var d net.Dialer
	next, derr := d.DialContext(jctx, "tcp", nextAddr)
	if derr == nil {
		_ = next.SetDeadline(deadline)
		// ctx's end (not only the join's deadline) ends the handshake.
		stopAfter := context.AfterFunc(jctx, func() { _ = next.SetDeadline(time.Unix(1, 0)) })
		derr = dialHandshake(next, c.group, secret, c.rank, (c.rank+1)%size, size)
		stopAfter()
		if derr != nil {
			next.Close()
			if jctx.Err() != nil && ctx.Err() != nil {
				derr = ctx.Err()
			}
		}
	} else {
		derr = &RankError{Group: group, Op: "join", Rank: (rank + 1) % size, Kind: ErrPeerLost, Cause: derr}
	}
	if derr != nil {
		ln.Close() // ends acceptPrev
		if a := <-acc; a.conn != nil {
			a.conn.Close()
		}
		return fail(derr)
	}
	c.next = next
	var a accepted
	select {
	case a = <-acc:
	case <-jctx.Done():
		ln.Close()
		a = <-acc
		if a.err == nil {
			a.conn.Close()
			a.err = jctx.Err()
		}
	}
	if a.err != nil {
		if errors.Is(a.err, context.DeadlineExceeded) || errors.Is(a.err, net.ErrClosed) {
			a.err = &RankError{Group: group, Op: "join", Rank: (rank + size - 1) % size, Kind: ErrTimeout, Cause: a.err}
		}
		return fail(a.err)
	}
	c.prev = a.conn
	ln.Close()
	_ = c.next.SetDeadline(time.Time{})
	_ = c.prev.SetDeadline(time.Time{})
	c.w = bufio.NewWriterSize(c.next, 64<<10)
	c.r = bufio.NewReaderSize(c.prev, 64<<10)
	// A barrier: when Join returns anywhere, every member has read the
	// secret, so rank 0 may remove it on Close.
	// The caller's ctx, not jctx, whose deadline is the join's: run applies
	// that itself and reports it as ErrTimeout.
	if err := c.run(ctx, opJoin, time.Until(deadline), func() error { return ringPass[float32](c, opJoin, 0, nil, nil) }); err != nil {
		return fail(err)
	}
	if segFile != "" {
		if rank != 0 {
			seg, segErr = openSeg(segFile, size, rank)
		}
		// The vote: shared memory only if every member mapped the segment
		// (a container on the same kernel may have its own /dev/shm).
		// Once it is over, no member will open the file again: remove it.
		vote := []float32{0}
		if seg != nil {
			vote[0] = 1
		}
		err := c.run(ctx, opJoin, time.Until(deadline), func() error { return ringPass(c, opAllReduce, Min, vote, nil) })
		os.Remove(segFile)
		segFile = ""
		if err != nil {
			return fail(err)
		}
		if vote[0] == 1 {
			seg.group, seg.closed = group, &c.closed
			c.shm = seg
			// The watchers read with no deadline (run set the join's).
			_ = c.next.SetDeadline(time.Time{})
			_ = c.prev.SetDeadline(time.Time{})
			c.watch()
		} else {
			if seg != nil {
				seg.unmap()
			}
			if segErr != nil {
				slog.Warn("collective: shared memory unavailable, the group uses TCP", "group", group, "rank", rank, "err", segErr)
			}
		}
	}
	return c, nil
}

// sameHost says whether every member runs on this host and shares memory.
func sameHost(recs []memberRecord) bool {
	for _, m := range recs {
		if m.Host == "" || m.Host != recs[0].Host {
			return false
		}
	}
	return len(recs) > 1 && recs[0].ShmDir != ""
}

func listen(o options) (net.Listener, string, error) {
	addr := o.listen
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%w: listen on %q: %w", ErrInvalidOption, o.listen, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if o.advertise != "" {
		host = o.advertise
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		ln.Close()
		return nil, "", fmt.Errorf("%w: listening on %q needs WithAdvertiseHost", ErrInvalidOption, o.listen)
	}
	return ln, net.JoinHostPort(host, port), nil
}

// publish writes the member's record, create-only.
func (c *Comm) publish(ctx context.Context, rec []byte) error {
	added, err := rayo.KVPut(ctx, memberKey(c.group, c.rank), rec, rayo.KVNoOverwrite(), rayo.KVNamespace(Namespace))
	if err != nil {
		return fmt.Errorf("collective: join %q: %w", c.group, err)
	}
	if !added {
		return fmt.Errorf("%w: rank %d of group %q", ErrRankTaken, c.rank, c.group)
	}
	return nil
}

// waitMembers polls the store until the secret and all size members'
// records are there; it returns the secret and the records. A size that
// disagrees with rank 0's (in the secret record) or a member's is an
// ErrMismatch as soon as it shows (rank+1's is read first, before the
// others have joined).
func (c *Comm) waitMembers(ctx context.Context) ([]byte, []memberRecord, error) {
	backoff := time.Millisecond
	ns := rayo.KVNamespace(Namespace)
	var secret []byte
	var recs []memberRecord
	member := func(r int) (memberRecord, error) {
		var m memberRecord
		v, err := rayo.KVGet(ctx, memberKey(c.group, r), ns)
		if err != nil {
			return m, err
		}
		if err := json.Unmarshal(v, &m); err != nil || m.Size != c.size {
			return m, &RankError{Group: c.group, Op: "join", Rank: r, Kind: ErrMismatch,
				Cause: fmt.Errorf("this member's size is %d, rank %d's %d", c.size, r, m.Size)}
		}
		return m, nil
	}
	for {
		err := func() error {
			if secret == nil {
				v, err := rayo.KVGet(ctx, secretKey(c.group), ns)
				if err != nil {
					return err
				}
				var s secretRecord
				if err := json.Unmarshal(v, &s); err != nil || len(s.Secret) == 0 {
					return fmt.Errorf("%w: group %q: a malformed secret record", ErrMismatch, c.group)
				}
				if s.Size != c.size {
					return &RankError{Group: c.group, Op: "join", Rank: 0, Kind: ErrMismatch,
						Cause: fmt.Errorf("this member's size is %d, rank 0's %d", c.size, s.Size)}
				}
				secret = s.Secret
			}
			if _, err := member(c.nextRank()); err != nil {
				return err
			}
			keys, err := rayo.KVList(ctx, memberPrefix(c.group), ns)
			if err != nil {
				return err
			}
			if len(keys) < c.size {
				return rayo.ErrKVNotFound
			}
			recs = make([]memberRecord, c.size)
			for r := range c.size {
				if recs[r], err = member(r); err != nil {
					return err
				}
			}
			c.nextAddr = recs[c.nextRank()].Addr
			return nil
		}()
		if err == nil {
			return secret, recs, nil
		}
		if !errors.Is(err, rayo.ErrKVNotFound) && ctx.Err() == nil {
			if errors.Is(err, ErrMismatch) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("collective: join %q: %w", c.group, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, &RankError{Group: c.group, Op: "join", Rank: c.firstMissing(), Kind: ErrTimeout, Cause: ctx.Err()}
		case <-t.C:
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// firstMissing names a rank whose record is not there yet (for the
// timeout error), or -1.
func (c *Comm) firstMissing() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys, err := rayo.KVList(ctx, memberPrefix(c.group), rayo.KVNamespace(Namespace))
	if err != nil {
		return -1
	}
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
	}
	for r := range c.size {
		if !have[memberKey(c.group, r)] {
			return r
		}
	}
	return -1
}

// Close closes the member's connections and its mapping of the shared
// segment (an operation in progress, here or at the other members, fails)
// and removes its records from the store. It may be called more than
// once.
func (c *Comm) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.shm != nil {
			c.shm.abort(c.rank) // wakes this member's operation and the others'
		}
		c.closeConns()
		c.watchers.Wait()
		if c.shm != nil {
			// Lock order: Close takes mu only here, after the wakeup above
			// has ended the operation in progress (which holds mu) or will
			// at its next wait; unmapping under it keeps that operation
			// from touching a mapping that is gone.
			c.mu.Lock()
			c.shm.unmap()
			c.mu.Unlock()
		}
		c.closeErr = c.removeRecords()
	})
	return c.closeErr
}

// watch starts a goroutine per ring connection that reads until the
// connection ends: in shared-memory mode nothing is sent on them, so an
// end means the neighbour closed or died, which it tells every member
// through the segment. Close waits for them.
func (c *Comm) watch() {
	for _, w := range []struct {
		conn net.Conn
		rank int
	}{{c.prev, c.prevRank()}, {c.next, c.nextRank()}} {
		c.watchers.Go(func() {
			var b [1]byte
			_, _ = w.conn.Read(b[:])
			if !c.closed.Load() {
				c.shm.abort(w.rank)
			}
		})
	}
}

func (c *Comm) closeConns() {
	if c.next != nil {
		c.next.Close()
	}
	if c.prev != nil {
		c.prev.Close()
	}
}

// removeRecords deletes the member's record, and rank 0's the secret. A
// negative c.rank (-1-rank) removes the member record only.
func (c *Comm) removeRecords() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns := rayo.KVNamespace(Namespace)
	rank := c.rank
	if rank < 0 {
		rank = -1 - rank
	}
	var serr error
	if c.rank == 0 && c.size > 1 {
		_, serr = rayo.KVDelete(ctx, secretKey(c.group), ns)
	}
	_, err := rayo.KVDelete(ctx, memberKey(c.group, rank), ns)
	return errors.Join(serr, err) // both tried, whatever the first did
}

// DeleteGroup removes every record of group from the store: those a run
// that crashed before Close left behind, and the shared-memory segment's
// file, if a crash during Join left it.
func DeleteGroup(ctx context.Context, group string) error {
	ns := rayo.KVNamespace(Namespace)
	keys, err := rayo.KVList(ctx, group+"/", ns)
	if err != nil {
		return err
	}
	removeSegment(ctx, group)
	for _, k := range keys {
		if _, err := rayo.KVDelete(ctx, k, ns); err != nil {
			return err
		}
	}
	return nil
}

// removeSegment removes the group's segment file, found from the secret
// and rank 0's record, if they are still in the store.
func removeSegment(ctx context.Context, group string) {
	ns := rayo.KVNamespace(Namespace)
	var s secretRecord
	var m memberRecord
	v, err := rayo.KVGet(ctx, secretKey(group), ns)
	if err != nil || json.Unmarshal(v, &s) != nil || len(s.Secret) == 0 {
		return
	}
	v, err = rayo.KVGet(ctx, memberKey(group, 0), ns)
	if err != nil || json.Unmarshal(v, &m) != nil || m.ShmDir == "" {
		return
	}
	os.Remove(segPath(m.ShmDir, group, s.Secret))
}
