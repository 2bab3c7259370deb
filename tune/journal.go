package tune

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The experiment's journal (StoragePath/Name/journal.bin) is append-only:
// one record per event, written as it happens, so a result costs one
// small write whatever the number of trials (Ray Tune rewrites a JSON
// file of the whole experiment instead). Each record is a uvarint length
// and a msgpack event; msgpack keeps an int an int and a float a float,
// so a restored trial's Params are what the original's were. A record cut
// short by a crash is dropped on replay and cut off the file.
//
// Restore replays the events in order through the same code that
// recorded them (runner.apply), so the searcher and the scheduler get the
// same calls in the same order and end where they were.

const journalFile = "journal.bin"

// Event kinds.
const (
	evAdd      = "add"      // a trial was suggested
	evResult   = "result"   // a trial reported
	evCkpt     = "ckpt"     // a checkpoint was written to storage
	evDecision = "decision" // a decision on a trial, with its reason
	evState    = "state"    // a trial changed state
	evParams   = "params"   // PBT gave a trial new Params
	evRewind   = "rewind"   // a failed trial restarts from its checkpoint
)

// How a trial reached a state (evState's How): which calls it makes.
const (
	howStart    = "start"    // RUNNING
	howComplete = "complete" // TERMINATED: finished by itself
	howStop     = "stop"     // TERMINATED: stopped by a scheduler, a stopper, the budget
	howPause    = "pause"    // PAUSED
	howFail     = "fail"     // ERROR
	howReset    = "reset"    // PENDING again: an errored trial resumed or restarted by Restore
	howResume   = "resume"   // PENDING again: a trial running when the driver died
	howExploit  = "exploit"  // evCkpt: the trial goes on from another's checkpoint (PBT)
)

type event struct {
	Kind  string    `msgpack:"k"`
	Trial string    `msgpack:"t"`
	Time  time.Time `msgpack:"at"`
	// evAdd: the searcher's values by path and the resolved Params.
	Values map[string]any `msgpack:"v,omitempty"`
	Params map[string]any `msgpack:"p,omitempty"`
	// evResult.
	Result *Result `msgpack:"r,omitempty"`
	// evCkpt: the checkpoint's iteration, directory (relative to the
	// experiment's) and score.
	Iteration int      `msgpack:"i,omitempty"`
	Path      string   `msgpack:"path,omitempty"`
	Score     *float64 `msgpack:"s,omitempty"`
	Dir       bool     `msgpack:"dir,omitempty"`
	// evDecision.
	Decision *DecisionRecord `msgpack:"d,omitempty"`
	// evState.
	State TrialState `msgpack:"st,omitempty"`
	How   string     `msgpack:"how,omitempty"`
	Err   string     `msgpack:"err,omitempty"`
}

// journal appends events to the journal file.
type journal struct {
	f   *os.File
	buf []byte
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return &journal{f: f}, nil
}

// append writes one event with a single write: a SIGKILL of the driver
// after it returns loses nothing (the data is in the kernel).
func (j *journal) append(e *event) error {
	b, err := msgpack.Marshal(e)
	if err != nil {
		return fmt.Errorf("tune: journal: %w", err)
	}
	j.buf = binary.AppendUvarint(j.buf[:0], uint64(len(b)))
	j.buf = append(j.buf, b...)
	if _, err := j.f.Write(j.buf); err != nil {
		return fmt.Errorf("%w: journal: %v", ErrStorage, err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// readJournal returns the journal's events; a torn last record is dropped
// and cut off the file, so that appends go on after the last whole one.
func readJournal(path string) ([]event, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var (
		events []event
		good   int64
	)
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			break
		}
		if err != nil || n > 1<<30 {
			break
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			break
		}
		var e event
		if err := msgpack.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%w: journal %s: record %d: %v", ErrStorage, path, len(events), err)
		}
		events = append(events, e)
		good += int64(uvarintLen(n)) + int64(n)
	}
	if st, err := f.Stat(); err == nil && st.Size() > good {
		if err := f.Truncate(good); err != nil {
			return nil, fmt.Errorf("%w: cutting a torn journal record: %v", ErrStorage, err)
		}
	}
	return events, nil
}

func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}

var errNoExperiment = errors.New("no experiment there")
