package rayo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rayo-dev/rayo/internal/errs"
)

// The cluster's key-value store (Ray's internal_kv): small records kept by
// the head, in namespaces, for libraries and applications to share state
// and metadata across jobs. It is written through to the head's state, so
// it survives a head restart. Values are at most 1 MiB; large data belongs
// in objects (Put).
//
// The default namespace is the global one, "", shared by every job, as
// Ray's namespace=None (not the job's namespace: a job's own namespace is
// anonymous by default, which would make its records unreachable to other
// jobs). KVNamespace picks another. Application namespaces are kept apart
// from the ones rayo keeps there itself (job records), which they cannot
// reach.

// ErrKVNotFound: KVGet found no value under the key (Ray's
// internal_kv_get returns None). It matches across processes: a task that
// returns it fails with a TaskError that errors.Is matches to it.
var ErrKVNotFound = errors.New("rayo: key not found in the key-value store")

func init() { errs.RegisterError("rayo.ErrKVNotFound", ErrKVNotFound) }

// kvNamespacePrefix separates applications' namespaces in the head's
// store from rayo's own (the job manager's "jobs").
const kvNamespacePrefix = "app:"

// KVOption configures a key-value call.
type KVOption func(*kvOptions)

type kvOptions struct {
	namespace   string
	noOverwrite bool
}

// KVNamespace sets the namespace of a key-value call (Ray's namespace
// argument); the default is the global namespace "". A namespace must not
// contain a NUL byte.
func KVNamespace(ns string) KVOption { return func(o *kvOptions) { o.namespace = ns } }

// KVNoOverwrite makes KVPut create-only, as Ray's overwrite=False: an
// existing value is kept and KVPut returns added == false. Only KVPut
// takes it.
func KVNoOverwrite() KVOption { return func(o *kvOptions) { o.noOverwrite = true } }

func kvSetup(call string, opts []KVOption, put bool) (kvOptions, error) {
	var o kvOptions
	for _, f := range opts {
		if f == nil {
			return o, fmt.Errorf("%w: %s: a nil KVOption", errs.ErrInvalidOption, call)
		}
		f(&o)
	}
	if o.noOverwrite && !put {
		return o, fmt.Errorf("%w: %s: KVNoOverwrite applies to KVPut only", errs.ErrInvalidOption, call)
	}
	if strings.IndexByte(o.namespace, 0) >= 0 {
		return o, fmt.Errorf("%w: %s: a namespace must not contain a NUL byte", errs.ErrInvalidOption, call)
	}
	o.namespace = kvNamespacePrefix + o.namespace
	return o, nil
}

// KVPut stores value under key (Ray's internal_kv_put). By default it
// replaces an existing value; with KVNoOverwrite it keeps it. added
// reports that the key had no value before (Ray's call returns the
// opposite, whether it existed). Create-only puts are atomic at the head:
// of several at once for one key, exactly one adds. An empty key or a
// value over 1 MiB is an ErrInvalidOption.
func KVPut(ctx context.Context, key string, value []byte, opts ...KVOption) (added bool, err error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return false, err
	}
	o, err := kvSetup("KVPut", opts, true)
	if err != nil {
		return false, err
	}
	added, err = rt.KVPut(ctx, o.namespace, key, value, !o.noOverwrite)
	if err != nil {
		return false, fmt.Errorf("rayo: KVPut %q: %w", key, err)
	}
	return added, nil
}

// KVGet returns the value under key (Ray's internal_kv_get), or
// ErrKVNotFound when there is none.
func KVGet(ctx context.Context, key string, opts ...KVOption) ([]byte, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	o, err := kvSetup("KVGet", opts, false)
	if err != nil {
		return nil, err
	}
	v, found, err := rt.KVGet(ctx, o.namespace, key)
	if err != nil {
		return nil, fmt.Errorf("rayo: KVGet %q: %w", key, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %q", ErrKVNotFound, key)
	}
	if v == nil {
		v = []byte{} // an empty value, not a missing one
	}
	return v, nil
}

// KVDelete removes key's value (Ray's internal_kv_del); deleted reports
// that there was one.
func KVDelete(ctx context.Context, key string, opts ...KVOption) (deleted bool, err error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return false, err
	}
	o, err := kvSetup("KVDelete", opts, false)
	if err != nil {
		return false, err
	}
	deleted, err = rt.KVDelete(ctx, o.namespace, key)
	if err != nil {
		return false, fmt.Errorf("rayo: KVDelete %q: %w", key, err)
	}
	return deleted, nil
}

// KVList returns the keys that start with prefix, sorted (Ray's
// internal_kv_list); "" lists the whole namespace.
func KVList(ctx context.Context, prefix string, opts ...KVOption) ([]string, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	o, err := kvSetup("KVList", opts, false)
	if err != nil {
		return nil, err
	}
	keys, err := rt.KVKeys(ctx, o.namespace, prefix)
	if err != nil {
		return nil, fmt.Errorf("rayo: KVList %q: %w", prefix, err)
	}
	if keys == nil {
		keys = []string{}
	}
	return keys, nil
}
