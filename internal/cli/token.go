package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ErrTokenFile means --token-file could not give a token.
var ErrTokenFile = errors.New("cli: bad --token-file")

const (
	tokenFlag     = "token"
	tokenFileFlag = "token-file"
	// tokenHelp warns where --token is documented: a command line is
	// readable by every local user for as long as the process runs.
	tokenHelp     = "the cluster token (default: RAYO_TOKEN, then the latest session); visible to every local user in ps: prefer RAYO_TOKEN or --token-file"
	tokenFileHelp = "read the cluster token from this file (mode 0600), instead of --token"
)

// registerToken adds --token and --token-file to a command; the root's
// pre-run hook reads the file into the token.
func registerToken(fl *pflag.FlagSet, token *string) {
	fl.StringVar(token, tokenFlag, "", tokenHelp)
	fl.String(tokenFileFlag, "", tokenFileHelp)
}

// applyTokenFile sets --token from --token-file, for every command that
// has both.
func applyTokenFile(cmd *cobra.Command) error {
	tf := cmd.Flags().Lookup(tokenFileFlag)
	if tf == nil || !tf.Changed {
		return nil
	}
	if cmd.Flags().Changed(tokenFlag) {
		return fmt.Errorf("%w: give --token or --token-file, not both", ErrTokenFile)
	}
	tok, err := readTokenFile(tf.Value.String(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	return cmd.Flags().Set(tokenFlag, tok)
}

// readTokenFile reads a token file, warning on stderr when other users
// may read it.
func readTokenFile(path string, stderr io.Writer) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "rayo: warning: the token file %s has mode %#o: other local users may read it; chmod 600 it\n", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrTokenFile, path)
	}
	return tok, nil
}

// setEnv returns env with key=value, and no other value of key (execve
// keeps duplicates, and which one a program reads varies).
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}
