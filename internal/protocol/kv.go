package protocol

// The head's key-value store: small records kept for the cluster's life
// (and across head restarts), by namespace and key.
const (
	HeadKVPut    = "head.KVPut"
	HeadKVGet    = "head.KVGet"
	HeadKVDelete = "head.KVDelete"
	HeadKVKeys   = "head.KVKeys"
)

// JobScopedNamespace holds key-value records that belong to one job: each
// key begins with the job's ID and "/", and the head deletes a job's keys
// when the job ends (as Ray cleans a job's function table).
const JobScopedNamespace = "rayo.job"

// MaxKVValue bounds one value: the store is for metadata, not data
// (objects go in the object store).
const MaxKVValue = 1 << 20

// MaxKVKey bounds a key with its namespace: the head's state store
// (bbolt) refuses keys over 32 KiB, and a key refused there would be
// lost at the next head restart.
const MaxKVKey = 16 << 10

type KVPutRequest struct {
	Namespace string `msgpack:"ns"`
	Key       string `msgpack:"k"`
	Value     []byte `msgpack:"v"`
	// Overwrite replaces an existing value; without it a put of an
	// existing key changes nothing.
	Overwrite bool `msgpack:"ow,omitempty"`
}

type KVPutReply struct {
	Added bool `msgpack:"added"` // the key did not exist
}

type KVKeyRequest struct {
	Namespace string `msgpack:"ns"`
	Key       string `msgpack:"k"`
}

type KVGetReply struct {
	Value []byte `msgpack:"v"`
	Found bool   `msgpack:"found"`
}

type KVDeleteReply struct {
	Deleted bool `msgpack:"deleted"`
}

type KVKeysRequest struct {
	Namespace string `msgpack:"ns"`
	Prefix    string `msgpack:"p"`
}

type KVKeysReply struct {
	Keys []string `msgpack:"keys"`
}
