package session

import (
	"path/filepath"
	"strings"
)

// CAFileName is the cluster CA's certificate in a head's session
// directory (public; see internal/pki): processes of the head's machine
// trust its fingerprint to join the cluster over TLS.
const CAFileName = "ca.crt"

// CAFile is the CA certificate of the cluster whose head, on this
// machine, listens at addr: the latest session's, if that session is the
// cluster at addr ("" otherwise).
func CAFile(tempDir, addr string) string {
	d, err := Latest(tempDir)
	if err != nil {
		return ""
	}
	if a, err := d.ReadAddress(); err != nil || strings.TrimSpace(a) != strings.TrimSpace(addr) {
		return ""
	}
	return filepath.Join(d.Path, CAFileName)
}
