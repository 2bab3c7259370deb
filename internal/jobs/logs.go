package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// A job's log is the file its process writes (stdout and stderr); the
// manager only reads it.

// Check returns ErrNotFound if no job is id (once the records are loaded).
func (m *Manager) Check(ctx context.Context, id string) error {
	if err := m.ready(ctx); err != nil {
		return err
	}
	if m.Done(id) == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// ReadLog writes job id's log as it is now, from byte offset on, to w
// (nothing, if the job has not written one yet).
func (m *Manager) ReadLog(id string, offset int64, w io.Writer) error {
	f, err := openLog(m.LogPath(id), offset)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// openLog opens a log at offset; a log not written yet is (nil, nil).
func openLog(p string, offset int64) (*os.File, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// Follow writes job id's log from byte offset on to w as it grows,
// calling flush after each write, until the job has ended and all its log
// is written, or ctx ends.
// It reads the file (the job writes it directly, so it keeps growing
// while the head is down and after it restarts), polling for new bytes.
func (m *Manager) Follow(ctx context.Context, id string, offset int64, w io.Writer, flush func()) error {
	if err := m.ready(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	j, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var f *os.File
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	t := time.NewTicker(m.cfg.PollInterval)
	defer t.Stop()
	for {
		// Whether the job had ended is read before the copy: bytes it
		// wrote before its end are then all in the file.
		var ended bool
		select {
		case <-j.done:
			ended = true
		default:
		}
		if f == nil {
			var err error
			if f, err = openLog(m.LogPath(id), offset); err != nil {
				return err
			}
		}
		if f != nil {
			n, err := io.Copy(w, f)
			if n > 0 {
				flush()
			}
			if err != nil {
				return err
			}
		}
		if ended {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.stopping:
			return ErrClosed
		case <-j.done:
		case <-t.C:
		}
	}
}
