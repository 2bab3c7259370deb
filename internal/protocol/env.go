package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/rayo-dev/rayo/internal/errs"
)

// A call's environment (Ray's runtime_env env_vars) travels as a sorted
// list of "KEY=VALUE" entries with one entry per key, plus EnvKey of that
// list: the node pools workers by (job, EnvKey), and the submitter keeps
// leases apart by it.

// EnvNamesVar names, in a worker's environment, the variables of the
// call's environment it was started with (comma-separated names; empty
// for none), so that the calls it submits inherit them (Ray's children
// inherit their parent's env_vars). Values are read from the process's
// environment: they never travel in a listing.
const EnvNamesVar = "RAYO_CALL_ENV_NAMES"

// CheckEnvVar validates one variable of a call's environment. Keys
// starting with RAYO_ are rayo's own (the worker's mode, node address,
// job spec, token and TLS identity): setting one would redirect or
// break the worker, or replace its credentials. CUDA_VISIBLE_DEVICES is
// the node's to set per lease (the GPUs it grants); a pooled worker
// serves leases with different GPUs.
func CheckEnvVar(k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: EnvVars: empty variable name", errs.ErrInvalidOption)
	case strings.ContainsAny(k, "=\x00"):
		return fmt.Errorf("%w: EnvVars: variable name %q contains '=' or NUL", errs.ErrInvalidOption, k)
	case strings.ContainsRune(v, 0):
		// The value is never shown: it may be a secret.
		return fmt.Errorf("%w: EnvVars: the value of %s contains NUL", errs.ErrInvalidOption, k)
	case strings.HasPrefix(k, "RAYO_"):
		return fmt.Errorf("%w: EnvVars: %s: names starting with RAYO_ are rayo's own", errs.ErrInvalidOption, k)
	case k == "CUDA_VISIBLE_DEVICES":
		return fmt.Errorf("%w: EnvVars: CUDA_VISIBLE_DEVICES is set by the node from the GPUs it grants", errs.ErrInvalidOption)
	}
	return nil
}

// EnvList is m as a call's environment: sorted "KEY=VALUE" entries (nil
// for an empty m), after checking every variable.
func EnvList(m map[string]string) ([]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		if err := CheckEnvVar(k, v); err != nil {
			return nil, err
		}
		out = append(out, k+"="+v)
	}
	sort.Slice(out, func(i, j int) bool { return envName(out[i]) < envName(out[j]) })
	return out, nil
}

// CheckEnv validates a call's environment as it arrives over the wire:
// every variable valid, sorted by name, no name twice (so that one
// environment has one EnvKey).
func CheckEnv(env []string) error {
	prev := ""
	for i, e := range env {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			return fmt.Errorf("%w: environment entry %d has no '='", errs.ErrInvalidOption, i)
		}
		if err := CheckEnvVar(k, v); err != nil {
			return err
		}
		if i > 0 && k <= prev {
			return fmt.Errorf("%w: environment not sorted by name, or %s given twice", errs.ErrInvalidOption, k)
		}
		prev = k
	}
	return nil
}

// EnvKey names a call's environment ("" for none): an HMAC keyed by the
// cluster's token, so that the values (which may be secrets) appear in no
// key, log or listing, and a short value cannot be found again from its
// key by trying values (as it could from a plain hash).
func EnvKey(token string, env []string) string {
	if len(env) == 0 {
		return ""
	}
	h := hmac.New(sha256.New, []byte(token))
	for _, e := range env {
		h.Write([]byte(e))
		h.Write([]byte{0}) // no entry holds NUL: the encoding is unambiguous
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func envName(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

// EnvKeys lists the names of a call's environment, without the values.
func EnvKeys(env []string) []string {
	out := make([]string, len(env))
	for i, e := range env {
		out[i], _, _ = strings.Cut(e, "=")
	}
	return out
}
