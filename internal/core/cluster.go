package core

import (
	"context"
	"fmt"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// ClusterStatus returns the head's view of the cluster (its nodes, with
// their total and available resources).
func (rt *Runtime) ClusterStatus(ctx context.Context) (*protocol.ClusterStatusReply, error) {
	var st protocol.ClusterStatusReply
	if err := rt.callHead(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// KVPut stores value under (namespace, key) in the head's key-value
// store; without overwrite an existing value is kept. added reports that
// the key did not exist. A put is atomic at the head: of concurrent
// create-only puts of one key, exactly one adds.
func (rt *Runtime) KVPut(ctx context.Context, namespace, key string, value []byte, overwrite bool) (added bool, err error) {
	var reply protocol.KVPutReply
	err = rt.callHead(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: namespace, Key: key, Value: value, Overwrite: overwrite}, &reply)
	return reply.Added, kvErr(err)
}

// KVGet returns the value under (namespace, key); found is false when
// there is none.
func (rt *Runtime) KVGet(ctx context.Context, namespace, key string) (value []byte, found bool, err error) {
	var reply protocol.KVGetReply
	if err := rt.callHead(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: namespace, Key: key}, &reply); err != nil {
		return nil, false, kvErr(err)
	}
	return reply.Value, reply.Found, nil
}

// KVDelete removes (namespace, key); deleted is false when it was absent.
func (rt *Runtime) KVDelete(ctx context.Context, namespace, key string) (deleted bool, err error) {
	var reply protocol.KVDeleteReply
	err = rt.callHead(ctx, protocol.HeadKVDelete, &protocol.KVKeyRequest{Namespace: namespace, Key: key}, &reply)
	return reply.Deleted, kvErr(err)
}

// KVKeys lists the keys of namespace that start with prefix, sorted.
func (rt *Runtime) KVKeys(ctx context.Context, namespace, prefix string) ([]string, error) {
	var reply protocol.KVKeysReply
	if err := rt.callHead(ctx, protocol.HeadKVKeys, &protocol.KVKeysRequest{Namespace: namespace, Prefix: prefix}, &reply); err != nil {
		return nil, kvErr(err)
	}
	return reply.Keys, nil
}

// kvErr makes the head's refusal of a request (an empty key, a value too
// large) an ErrInvalidOption.
func kvErr(err error) error {
	if err != nil && rpc.CodeOf(err) == rpc.CodeBadRequest {
		return fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	return err
}
