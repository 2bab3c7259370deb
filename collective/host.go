package collective

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// hostIdentity names the machine (and the kernel's boot, so that a reused
// hostname after a reboot is another host): the boot id and the hostname.
// Members whose identities match try shared memory; a container on the
// same kernel has the same boot id but, as a rule, another hostname, and
// if it has both and still another /dev/shm, mapping the segment fails and
// the group stays on TCP (Join's vote). "" (no boot id: not Linux) never
// matches.
var hostIdentity = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	id := strings.TrimSpace(string(b))
	if err != nil || id == "" {
		return ""
	}
	h, _ := os.Hostname()
	return id + "/" + h
})

// shmDir is where rank 0 creates the group's segment: /dev/shm (memory,
// never written back to a disk), or the temporary directory where there
// is none. Rank 0 publishes its choice in its member record, so that the
// members need not agree on TMPDIR.
func shmDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// segPrefix begins the names of a group's segment files: the group's name
// (made safe for a file name, truncated) so that an operator can tell
// whose a file is.
func segPrefix(group string) string {
	safe := []byte(group)
	for i, b := range safe {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			safe[i] = '_'
		}
	}
	if len(safe) > 64 {
		safe = safe[:64]
	}
	return "rayo-collective." + string(safe) + "."
}

// segPath is the group's segment file in dir. The suffix comes from the
// group's secret, so that only a member can name (or pre-create) the file;
// DeleteGroup computes it again from the secret record.
func segPath(dir, group string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("shm\x00" + group))
	return filepath.Join(dir, segPrefix(group)+hex.EncodeToString(m.Sum(nil)[:16]))
}
