package proc

import (
	"bytes"
	"io"
	"sync"
)

const (
	// maxLine bounds a line held while its newline has not come: a
	// longer run of bytes (a progress bar redrawn with \r) goes out in
	// pieces of this size, each as a line of its own.
	maxLine = 64 << 10
	// maxTailLine bounds each line ExitError.Tail keeps.
	maxTailLine = 4 << 10
)

// output writes the child's two streams, each line whole and prefixed.
// One lock serves both, so that lines of stdout and stderr never
// interleave within a line even when both go to one writer.
type output struct {
	mu     sync.Mutex
	prefix []byte
}

// lines turns one stream's bytes into prefixed lines on w.
type lines struct {
	out  *output
	w    io.Writer
	part []byte // the line so far, without its newline
	buf  []byte // what one write sends
	tail *tail  // stderr's last lines, or nil
}

func newLines(out *output, w io.Writer, t *tail) *lines {
	return &lines{out: out, w: w, tail: t}
}

// Write takes the stream's bytes as they come; it never fails (a writer
// that does loses output, and the child is not held up).
func (l *lines) Write(p []byte) (int, error) {
	n := len(p)
	l.buf = l.buf[:0]
	for len(p) > 0 {
		room := maxLine - len(l.part)
		i := bytes.IndexByte(p, '\n')
		switch {
		case i >= 0 && i <= room:
			l.part = append(l.part, p[:i]...)
			p = p[i+1:]
			l.line()
		case len(p) <= room:
			l.part = append(l.part, p...)
			p = nil
		default:
			l.part = append(l.part, p[:room]...)
			p = p[room:]
			l.line()
		}
	}
	l.send()
	return n, nil
}

// line moves the pending line into the write buffer.
func (l *lines) line() {
	l.buf = append(l.buf, l.out.prefix...)
	l.buf = append(l.buf, l.part...)
	l.buf = append(l.buf, '\n')
	if l.tail != nil {
		l.tail.add(l.part)
	}
	l.part = l.part[:0]
}

func (l *lines) send() {
	if len(l.buf) == 0 {
		return
	}
	l.out.mu.Lock()
	_, _ = l.w.Write(l.buf)
	l.out.mu.Unlock()
	l.buf = l.buf[:0]
}

// Flush writes a last line that had no newline.
func (l *lines) Flush() {
	if len(l.part) > 0 {
		l.line()
		l.send()
	}
}

// copyFrom copies r into l until r ends, then flushes.
func (l *lines) copyFrom(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = l.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	l.Flush()
}

// tail keeps a stream's last TailLines lines.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line []byte) {
	if len(line) > maxTailLine {
		line = line[:maxTailLine]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == TailLines {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:TailLines-1]
	}
	t.lines = append(t.lines, string(line))
}

func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}
