package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The logs API serves the files of the node's logs directory to the
// dashboard (rayo logs). Several daemons on one machine may share that
// directory (a node started on the head's machine uses the head's
// session), so each node lists its own files only: its daemon log, the
// logs of the workers it started (their names carry its ID), and, on the
// head or where no head shares the directory, the files nobody else owns.

const (
	workerLogPrefix = "worker-"
	logSuffix       = ".log"
	headLogName     = "head.log"
	nodeLogPrefix   = "node-"
)

// workerLogName is the file name of a worker's log: worker-<job>-<node>-<pid>.log.
// The node ID lets daemons that share a logs directory tell their
// workers' logs apart.
func workerLogName(jobID, nodeID string, pid int) string {
	return fmt.Sprintf("%s%s-%s-%d%s", workerLogPrefix, jobID, nodeID, pid, logSuffix)
}

// parseWorkerLogName splits a name workerLogName made. Job IDs and node IDs
// are hex, so the dashes are unambiguous; the older worker-<job>-<pid>.log
// parses with an empty node ID.
func parseWorkerLogName(name string) (jobID, nodeID string, pid int, ok bool) {
	rest, ok1 := strings.CutPrefix(name, workerLogPrefix)
	rest, ok2 := strings.CutSuffix(rest, logSuffix)
	if !ok1 || !ok2 {
		return "", "", 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", "", 0, false
	}
	pid, err := strconv.Atoi(rest[i+1:])
	if err != nil || pid <= 0 {
		return "", "", 0, false
	}
	rest = rest[:i]
	jobID, nodeID, _ = strings.Cut(rest, "-")
	if jobID == "" {
		return "", "", 0, false
	}
	return jobID, nodeID, pid, true
}

// logOwner describes whose files a node lists in its logs directory.
type logOwner struct {
	nodeID string
	isHead bool
}

// classify says what a file is and whether this node lists it.
func (o logOwner) classify(name string, headShares bool) (info protocol.LogFileInfo, mine bool) {
	info.Name = name
	if job, node, pid, ok := parseWorkerLogName(name); ok {
		info.Kind, info.JobID, info.Pid = protocol.LogKindWorker, job, pid
		return info, node == o.nodeID || (node == "" && o.ownsShared(headShares))
	}
	switch {
	case name == headLogName:
		info.Kind = protocol.LogKindDaemon
		return info, o.isHead
	case strings.HasPrefix(name, nodeLogPrefix) && strings.HasSuffix(name, logSuffix):
		info.Kind = protocol.LogKindDaemon
		return info, name == nodeLogPrefix+o.nodeID+logSuffix
	case strings.HasPrefix(name, "driver-") || strings.HasPrefix(name, "job-"):
		info.Kind = protocol.LogKindJob
	default:
		info.Kind = protocol.LogKindOther
	}
	return info, o.ownsShared(headShares)
}

// ownsShared: files of no particular daemon are the head's where the head
// shares the directory, else every node's that uses it.
func (o logOwner) ownsShared(headShares bool) bool { return o.isHead || !headShares }

// listLogDir lists the plain files (and links to plain files inside dir)
// directly in dir that the owner lists, by name.
func listLogDir(dir string, o logOwner) ([]protocol.LogFileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("node: listing the logs directory: %w", err)
	}
	headShares := false
	for _, e := range entries {
		if e.Name() == headLogName {
			headShares = true
		}
	}
	files := []protocol.LogFileInfo{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, mine := o.classify(e.Name(), headShares)
		if !mine {
			continue
		}
		path, err := resolveLog(dir, e.Name())
		if err != nil {
			continue // a directory, a link out of dir, or gone since ReadDir
		}
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		info.Size, info.ModifiedMs = st.Size(), st.ModTime().UnixMilli()
		files = append(files, info)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

var errOutside = errors.New("outside the logs directory")

// resolveLog returns the real path of name in dir, refusing names that are
// not a single path element and links that lead out of dir.
func resolveLog(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) ||
		strings.ContainsRune(name, 0) || strings.Contains(name, "..") {
		return "", rpc.Errorf(rpc.CodeBadRequest, "node: %q is not a log file name (a bare file name is expected)", name)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("node: the logs directory: %w", err)
	}
	path, err := filepath.EvalSymlinks(filepath.Join(realDir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", rpc.Errorf(protocol.CodeLogNotFound, "node: no log file %q", name)
		}
		return "", fmt.Errorf("node: log file %q: %w", name, err)
	}
	if filepath.Dir(path) != realDir {
		return "", rpc.Errorf(rpc.CodeBadRequest, "node: log file %q leads %v", name, errOutside)
	}
	return path, nil
}

// readLog serves a ReadLogRequest from dir.
func readLog(dir string, req *protocol.ReadLogRequest) (*protocol.ReadLogReply, error) {
	if req.Offset < 0 || req.Len < 0 || req.TailLines < 0 {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: negative offset, length or tail (%d, %d, %d)", req.Offset, req.Len, req.TailLines)
	}
	path, err := resolveLog(dir, req.Name)
	if err != nil {
		return nil, err
	}
	// O_NOFOLLOW: the path was resolved; a link swapped in since is refused.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, rpc.Errorf(protocol.CodeLogNotFound, "node: no log file %q", req.Name)
		}
		return nil, fmt.Errorf("node: opening log file %q: %w", req.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("node: log file %q: %w", req.Name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: %q is not a plain file", req.Name)
	}
	size := st.Size()
	if req.TailLines > 0 {
		return tailLines(f, size, req.TailLines)
	}
	n := req.Len
	if n == 0 || n > protocol.MaxLogRead {
		n = protocol.MaxLogRead
	}
	if req.Offset >= size {
		return &protocol.ReadLogReply{Offset: req.Offset, Size: size}, nil
	}
	n = min(n, size-req.Offset)
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("node: reading log file %q: %w", req.Name, err)
	}
	return &protocol.ReadLogReply{Data: buf[:got], Offset: req.Offset, Size: size}, nil
}

// tailBlock is how much tailLines reads at a time, from the end.
const tailBlock = 64 << 10

// tailLines returns the last n lines of the file's first size bytes (a
// final line without a newline counts), at most MaxLogRead bytes of them.
func tailLines(f *os.File, size int64, n int) (*protocol.ReadLogReply, error) {
	start := max(size-protocol.MaxLogRead, 0)
	var data []byte // the file's bytes from pos to size
	pos := size
	newlines := 0
	for pos > start {
		from := max(pos-tailBlock, start)
		block := make([]byte, pos-from)
		if _, err := f.ReadAt(block, from); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("node: reading log file: %w", err)
		}
		// A newline that ends the file closes the last line rather than
		// starting a new one.
		scan := block
		if pos == size && len(scan) > 0 && scan[len(scan)-1] == '\n' {
			scan = scan[:len(scan)-1]
		}
		for i := len(scan) - 1; i >= 0; i-- {
			if scan[i] != '\n' {
				continue
			}
			newlines++
			if newlines == n {
				cut := from + int64(i) + 1
				data = append(block[i+1:], data...)
				return &protocol.ReadLogReply{Data: data, Offset: cut, Size: size}, nil
			}
		}
		data = append(block, data...)
		pos = from
	}
	return &protocol.ReadLogReply{Data: data, Offset: start, Size: size, Truncated: start > 0}, nil
}

func (n *Node) logOwner() logOwner { return logOwner{nodeID: n.cfg.NodeID, isHead: n.cfg.IsHead} }

func (n *Node) listLogs(context.Context, *protocol.Empty) (*protocol.ListLogsReply, error) {
	files, err := listLogDir(n.cfg.LogsDir, n.logOwner())
	if err != nil {
		return nil, err
	}
	return &protocol.ListLogsReply{NodeID: n.cfg.NodeID, Files: files}, nil
}

func (n *Node) readLog(_ context.Context, req *protocol.ReadLogRequest) (*protocol.ReadLogReply, error) {
	return readLog(n.cfg.LogsDir, req)
}
