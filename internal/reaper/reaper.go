package reaper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Env is set (to "1") in a reaper's environment.
const Env = "RAYO_REAPER"

// ErrClosed is returned by Reaper.Close for the second call.
var ErrClosed = errors.New("reaper: closed")

// waitLimit bounds each of the reaper's waits (for workers to exit, for a
// dead process's lock and listeners to go).
var waitLimit = 10 * time.Second

// msg is one line on the pipe.
type msg struct {
	Store  string `json:"store,omitempty"`
	Dir    string `json:"dir,omitempty"`
	Socket string `json:"socket,omitempty"`
	Node   string `json:"node,omitempty"`
	Bye    bool   `json:"bye,omitempty"`
}

// Reaper is the driver's handle on its reaper process.
type Reaper struct {
	cmd  *exec.Cmd
	log  *slog.Logger
	done chan struct{} // the writer goroutine ended

	mu      sync.Mutex
	w       *os.File
	queue   [][]byte
	writing bool       // the writer holds lines taken from queue
	written *sync.Cond // on mu: the writer has written what it took
	wake    chan struct{}
	closing bool
	broken  bool
}

// Start starts a reaper process. Its log (what it removed, and failures)
// goes to logTo (nil: discarded); log is the driver's.
func Start(logTo *os.File, log *slog.Logger) (*Reaper, error) {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("reaper: finding this program's executable: %w", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("reaper: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{"rayo-reaper"}
	cmd.Env = append(os.Environ(), Env+"=1")
	cmd.ExtraFiles = []*os.File{r} // fd 3
	if logTo != nil {
		cmd.Stderr = logTo
	}
	// Its own process group: the terminal's SIGINT is for the driver.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_ = r.Close()
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("reaper: starting: %w", err)
	}
	rp := &Reaper{cmd: cmd, log: log, w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	rp.written = sync.NewCond(&rp.mu)
	go rp.writeLoop()
	return rp, nil
}

// Pid is the reaper process's pid.
func (r *Reaper) Pid() int { return r.cmd.Process.Pid }

// Store asks for the store file at path to be removed if the driver dies.
func (r *Reaper) Store(path string) { r.send(msg{Store: path}) }

// Dir asks for the directory dir (and all in it) to be removed.
func (r *Reaper) Dir(dir string) { r.send(msg{Dir: dir}) }

// Socket asks for the Unix socket file at path to be removed ("" is
// ignored).
func (r *Reaper) Socket(path string) {
	if path != "" {
		r.send(msg{Socket: path})
	}
}

// Node asks for the workers of the node nodeID to be killed.
func (r *Reaper) Node(nodeID string) { r.send(msg{Node: nodeID}) }

// send queues m; a goroutine writes it, so a stalled reaper never blocks
// the caller (a worker registering, say).
func (r *Reaper) send(m msg) {
	b, _ := json.Marshal(m)
	b = append(b, '\n')
	r.mu.Lock()
	if !r.closing && !r.broken {
		r.queue = append(r.queue, b)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Reaper) writeLoop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		q, closing := r.queue, r.closing
		r.queue, r.writing = nil, len(q) > 0
		r.mu.Unlock()
		for _, b := range q {
			if _, err := r.w.Write(b); err != nil {
				r.mu.Lock()
				r.broken, r.writing = true, false
				r.written.Broadcast()
				r.mu.Unlock()
				r.log.Warn("the reaper process is gone; files of this embedded cluster may be left if the driver dies", "err", err)
				return
			}
		}
		r.mu.Lock()
		r.writing = false
		r.written.Broadcast()
		r.mu.Unlock()
		if closing {
			return
		}
		<-r.wake
	}
}

// Flush waits until what was sent so far is in the reaper's pipe, from
// where the reaper reads it even if this process dies the next moment.
func (r *Reaper) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for (len(r.queue) > 0 || r.writing) && !r.broken {
		r.written.Wait()
	}
}

// Close tells the reaper that the driver shut down cleanly (Shutdown did
// the cleaning) and waits for it to exit.
func (r *Reaper) Close() error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return ErrClosed
	}
	b, _ := json.Marshal(msg{Bye: true})
	r.queue = append(r.queue, append(b, '\n'))
	r.closing = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	<-r.done
	_ = r.w.Close()
	err := r.cmd.Wait()
	if err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	return nil
}

// RunIfReaper runs the reaper and exits if this process was started as one
// (call it first thing, from an init function); else it returns at once.
func RunIfReaper() {
	if os.Getenv(Env) != "1" {
		return
	}
	// The terminal's Ctrl-C and hang-up are for the driver.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "reaper")
	os.Exit(Run(os.NewFile(3, "reaper-pipe"), log))
}

// plan is what the driver asked for.
type plan struct {
	stores, dirs, nodes []string
	sockets             map[string]bool
	sockOrder           []string
}

// Run reads the driver's requests from pipe until "bye" (returns 0) or
// end-of-file, then cleans up and returns 0 (1 if something could not be
// removed).
func Run(pipe io.Reader, log *slog.Logger) int {
	p := plan{sockets: map[string]bool{}}
	dec := json.NewDecoder(pipe)
	for {
		var m msg
		if err := dec.Decode(&m); err != nil {
			break // end-of-file, or a line cut short by the driver's death
		}
		switch {
		case m.Bye:
			return 0
		case m.Store != "":
			p.stores = append(p.stores, m.Store)
		case m.Dir != "":
			p.dirs = append(p.dirs, m.Dir)
		case m.Node != "":
			p.nodes = append(p.nodes, m.Node)
		case m.Socket != "" && !p.sockets[m.Socket]:
			p.sockets[m.Socket] = true
			p.sockOrder = append(p.sockOrder, m.Socket)
		}
	}
	log.Info("the driver died without shutting down; removing what its embedded cluster left",
		"stores", len(p.stores), "dirs", len(p.dirs), "sockets", len(p.sockOrder))
	if !clean(p, log) {
		return 1
	}
	return 0
}

func clean(p plan, log *slog.Logger) bool {
	ok := true
	for _, id := range p.nodes {
		if left := killWorkers(id); len(left) > 0 {
			log.Error("workers of the dead driver's node survived SIGKILL", "node", id, "pids", left)
			ok = false
		}
	}
	for _, path := range p.stores {
		if err := removeStore(path); err != nil {
			log.Error("cannot remove the object store file", "path", path, "err", err)
			ok = false
		}
	}
	for _, d := range p.dirs {
		if err := os.RemoveAll(d); err != nil {
			log.Error("cannot remove a directory", "dir", d, "err", err)
			ok = false
		}
	}
	for _, s := range p.sockOrder {
		if err := removeSocket(s); err != nil {
			log.Warn("a socket file was kept", "path", s, "err", err)
		}
	}
	return ok
}

// poll calls done until it reports true or waitLimit passes.
func poll(done func() bool) bool {
	deadline := time.Now().Add(waitLimit)
	delay := time.Millisecond
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
	return true
}

// killWorkers kills the processes of this user whose environment says
// they are workers of node nodeID, and waits for them to exit. It returns
// those still alive at the deadline.
func killWorkers(nodeID string) []int {
	want := []byte("\x00RAYO_NODE_ID=" + nodeID + "\x00")
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) != nil || int(st.Uid) != os.Geteuid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), want) ||
			!bytes.Contains(append([]byte{0}, env...), []byte("\x00RAYO_WORKER_MODE=1\x00")) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		pids = append(pids, pid)
	}
	var left []int
	poll(func() bool {
		left = left[:0]
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0
	})
	return left
}

// alive reports whether pid runs (a zombie has exited).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// removeStore removes the store file once its owner's lock is gone (the
// kernel drops it as it tears the dead process down, maybe just after
// the pipe closed).
func removeStore(path string) error {
	var err error
	if poll(func() bool {
		var removed bool
		removed, err = objstore.RemoveStale(path)
		if removed || err != nil {
			return true
		}
		_, serr := os.Lstat(path)
		return errors.Is(serr, os.ErrNotExist)
	}) {
		return err
	}
	return errors.New("reaper: its owner's lock is still held")
}

// removeSocket removes the socket file at path once nobody listens there.
func removeSocket(path string) error {
	var err error
	if poll(func() bool {
		_, alive, rerr := rpc.RemoveDeadSocket(path)
		err = rerr
		return !alive // a listener: the dying one, or a new process's
	}) {
		return err
	}
	return fmt.Errorf("reaper: %s still has a listener", filepath.Base(path))
}
