package cli

import (
	"context"
	"os"
)

// headPid is the pid of the head daemon for --actors' memory rows: this
// process on the embedded cluster, the head's own when it runs on this
// machine; 0 if unknown.
func headPid(ctx context.Context, tempDir, address, token string) int {
	if address == "" {
		return os.Getpid()
	}
	if address == "auto" {
		address = "" // the local session's
	}
	f := clusterFlags{tempDir: tempDir, address: address, token: token}
	st, err := f.clusterStatus(ctx)
	if err != nil {
		return 0
	}
	host, _ := os.Hostname()
	for _, n := range st.Nodes {
		if n.Info.IsHead && n.Info.Hostname == host {
			return n.Info.Pid
		}
	}
	return 0
}
