package proc

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

var (
	// ErrSpec: the Spec cannot be run (neither or both of Script and
	// Module, a missing interpreter...).
	ErrSpec = errors.New("proc: invalid spec")
	// ErrScriptNotFound: Spec.Script is not a regular file.
	ErrScriptNotFound = errors.New("proc: training script not found")
	// ErrNoPackage: RAYO_PYTHONPATH names no directory holding rayo.train.
	ErrNoPackage = errors.New("proc: rayo Python package not found")
	// ErrExited: the script ended with a non-zero status or a signal
	// (*ExitError says which).
	ErrExited = errors.New("proc: training script failed")
	// ErrScript: the script raised an uncaught exception (*ScriptError).
	ErrScript = errors.New("proc: training script raised an exception")
	// ErrCollectiveTimeout: the script failed because a collective
	// (or torch.distributed's rendezvous) timed out: a peer is gone or
	// stuck. Matches a *ScriptError or *ExitError that says so.
	ErrCollectiveTimeout = errors.New("proc: collective operation timed out")
	// ErrUnsupportedColumn: a dataset batch has a column the script
	// cannot be given as a numpy array; the script gets a TrainError.
	ErrUnsupportedColumn = errors.New("proc: unsupported column")
)

// TailLines is how many of the last lines of the script's stderr an
// ExitError keeps.
const TailLines = 20

// ExitError reports a script that exited with a non-zero status or was
// ended by a signal. errors.Is(err, ErrExited) holds.
type ExitError struct {
	// Code is the exit status; -1 when a signal ended the process.
	Code int
	// Signal names the signal that ended it ("SIGKILL"), or is "".
	Signal string
	// Tail is the last lines of its stderr (up to TailLines, each cut to
	// a few KiB), oldest first, without the prefix.
	Tail []string
	// CollectiveTimeout is set when the stderr shows NCCL's watchdog
	// ending the process over a timed-out collective.
	CollectiveTimeout bool
}

func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString("proc: training script ")
	if e.Signal != "" {
		b.WriteString("killed by " + e.Signal)
	} else {
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	for i := len(e.Tail) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(e.Tail[i]); s != "" {
			b.WriteString(": " + s)
			break
		}
	}
	return b.String()
}

// Is matches ErrExited, and ErrCollectiveTimeout when CollectiveTimeout.
func (e *ExitError) Is(target error) bool {
	return target == ErrExited || (e.CollectiveTimeout && target == ErrCollectiveTimeout)
}

// ScriptError reports an uncaught Python exception, as the launcher sent
// it before exiting. It wraps the exit (an *ExitError); errors.Is(err,
// ErrScript) holds.
type ScriptError struct {
	// Type is the exception's class: "ValueError" for builtins, else
	// "module.QualName".
	Type string
	// Message is str(exception).
	Message string
	// Traceback is the formatted traceback, from the script's frames.
	Traceback string
	// CollectiveTimeout is set when the exception is torch.distributed's
	// report of a timed-out collective or rendezvous.
	CollectiveTimeout bool
	// Exit is how the process ended.
	Exit *ExitError
}

func (e *ScriptError) Error() string {
	if e.Message == "" {
		return "proc: training script raised " + e.Type
	}
	return "proc: training script raised " + e.Type + ": " + e.Message
}

// Unwrap returns the exit.
func (e *ScriptError) Unwrap() error {
	if e.Exit == nil {
		return nil
	}
	return e.Exit
}

// Is matches ErrScript, and ErrCollectiveTimeout when CollectiveTimeout.
func (e *ScriptError) Is(target error) bool {
	return target == ErrScript || (e.CollectiveTimeout && target == ErrCollectiveTimeout)
}

// signalNames names the signals a training script usually dies of.
var signalNames = map[syscall.Signal]string{
	syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGHUP: "SIGHUP",
	syscall.SIGILL: "SIGILL", syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL", syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGQUIT: "SIGQUIT", syscall.SIGSEGV: "SIGSEGV", syscall.SIGTERM: "SIGTERM",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d (%v)", int(s), s)
}

// ncclWatchdog is what NCCL's watchdog prints (torch 1.13 to 2.x) before
// it aborts the process over a collective past its timeout.
var ncclWatchdog = []string{"Watchdog caught collective operation timeout", "collective operation timeout"}

// showsCollectiveTimeout reports whether stderr's tail has the watchdog's line.
func showsCollectiveTimeout(tail []string) bool {
	for _, l := range tail {
		for _, m := range ncclWatchdog {
			if strings.Contains(l, m) {
				return true
			}
		}
	}
	return false
}
