package gcs

import (
	"context"
	"sort"
	"strings"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The key-value store is held in memory and written through to the
// head's state; keys are nsKey(namespace, key).

func checkKVKey(ns, key string) error {
	if key == "" {
		return rpc.Errorf(rpc.CodeBadRequest, "rayo: a key-value key must not be empty")
	}
	if n := len(ns) + 1 + len(key); n > protocol.MaxKVKey {
		return rpc.Errorf(rpc.CodeBadRequest, "rayo: a key-value key with its namespace is at most %d bytes, not %d", protocol.MaxKVKey, n)
	}
	return nil
}

// kvPut writes through to the head's state before it answers: a put the
// state store refuses (a full disk) is an error, not a value that a
// restarted head would not have.
func (s *Server) kvPut(_ context.Context, req *protocol.KVPutRequest) (*protocol.KVPutReply, error) {
	if err := checkKVKey(req.Namespace, req.Key); err != nil {
		return nil, err
	}
	if len(req.Value) > protocol.MaxKVValue {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: a key-value value is at most %d bytes, not %d", protocol.MaxKVValue, len(req.Value))
	}
	k := nsKey(req.Namespace, req.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, exists := s.kv[k]
	if exists && !req.Overwrite {
		return &protocol.KVPutReply{}, nil
	}
	v := append([]byte{}, req.Value...)
	if err := s.db.put(bucketKV, k, v); err != nil {
		return nil, rpc.Errorf(rpc.CodeInternal, "rayo: the head could not store the key-value record: %v", err)
	}
	s.kv[k] = v
	return &protocol.KVPutReply{Added: !exists}, nil
}

func (s *Server) kvGet(_ context.Context, req *protocol.KVKeyRequest) (*protocol.KVGetReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[nsKey(req.Namespace, req.Key)]
	return &protocol.KVGetReply{Value: v, Found: ok}, nil
}

func (s *Server) kvDelete(_ context.Context, req *protocol.KVKeyRequest) (*protocol.KVDeleteReply, error) {
	k := nsKey(req.Namespace, req.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kv[k]; !ok {
		return &protocol.KVDeleteReply{}, nil
	}
	if err := s.db.del(bucketKV, k); err != nil {
		return nil, rpc.Errorf(rpc.CodeInternal, "rayo: the head could not delete the key-value record: %v", err)
	}
	delete(s.kv, k)
	return &protocol.KVDeleteReply{Deleted: true}, nil
}

func (s *Server) kvKeys(_ context.Context, req *protocol.KVKeysRequest) (*protocol.KVKeysReply, error) {
	prefix := nsKey(req.Namespace, req.Prefix)
	s.mu.Lock()
	var keys []string
	for k := range s.kv {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k[len(req.Namespace)+1:])
		}
	}
	s.mu.Unlock()
	sort.Strings(keys)
	return &protocol.KVKeysReply{Keys: keys}, nil
}

// endJobKV deletes the job's records in the job-scoped namespace.
func (s *Server) endJobKV(jobID string) {
	prefix := nsKey(protocol.JobScopedNamespace, jobID+"/")
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.kv {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if err := s.db.del(bucketKV, k); err != nil {
			s.cfg.Log.Warn("deleting an ended job's key-value record", "job", jobID, "err", err)
			continue
		}
		delete(s.kv, k)
	}
}
