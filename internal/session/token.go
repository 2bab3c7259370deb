package session

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenBytes is 256 bits: far past brute force over the network.
const tokenBytes = 32

// NewToken returns a random 256-bit token, hex-encoded.
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// TokensEqual compares tokens in constant time so a peer cannot learn the
// token byte by byte from response timing. An empty token never matches, so
// a misconfigured side with no token cannot authenticate against another.
func TokensEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// WriteToken stores the cluster token with mode 0600, atomically, and then
// verifies the mode: the token grants full control of the cluster, so a
// filesystem that silently ignores the chmod must be reported, not trusted.
func (d *Dir) WriteToken(token string) error {
	token = strings.TrimSpace(token)
	if token == "" {
		return errors.New("session: empty token")
	}
	path := filepath.Join(d.Path, tokenFile)
	if err := writeAtomic(path, []byte(token+"\n"), tokenPerm); err != nil {
		return fmt.Errorf("session: write token: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("session: write token: %w", err)
	}
	if perm := fi.Mode().Perm(); perm != tokenPerm {
		return fmt.Errorf("session: token file %s has mode %#o, want %#o", path, perm, tokenPerm)
	}
	return nil
}

// ReadToken returns the stored token with surrounding whitespace removed;
// ErrNoToken (wrapped) if the file is missing or empty.
func (d *Dir) ReadToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, tokenFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w (none in %s)", ErrNoToken, d.Path)
		}
		return "", fmt.Errorf("session: read token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%w (empty token file in %s)", ErrNoToken, d.Path)
	}
	return token, nil
}
