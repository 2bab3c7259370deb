package cli

import (
	"os"

	"github.com/rayo-dev/rayo/internal/session"
)

// headPid is the pid of the head daemon for --actors' memory rows: this
// process on the embedded cluster; the head of the latest local session
// when --address is it (or auto); 0 if unknown. The node daemon that
// `rayo start --head` runs beside the head is another process.
func headPid(tempDir, address string) int {
	if address == "" {
		return os.Getpid()
	}
	d, err := session.Latest(tempDir)
	if err != nil {
		return 0
	}
	if address != "auto" {
		if addr, err := d.ReadAddress(); err != nil || addr != address {
			return 0
		}
	}
	pids, err := d.Pids()
	if err != nil {
		return 0
	}
	return pids["head"]
}
