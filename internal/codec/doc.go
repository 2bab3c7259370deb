// Package codec encodes user values: arguments, results and Put values.
//
// The format is MessagePack (https://msgpack.org), so that workers written
// in other languages can read and write rayo objects. The mapping:
//
//   - bool, integers, floats, strings: msgpack's native types (integers of
//     every width in their smallest encoding);
//   - []byte: msgpack bin, copied as one block;
//   - slices and arrays: msgpack arrays; maps: msgpack maps;
//   - structs: msgpack maps keyed by field name, or by the `msgpack:"name"`
//     tag where present;
//   - rayo.ObjectRef[T]: the msgpack extension type 1 whose payload is a
//     msgpack array [object ID, owner address];
//   - extension type 4 is a Python object that only Python reads (rayo's
//     Python package pickles it): decoding one fails with ErrPythonObject.
//
// docs/encoding.md gives the same table for implementers in other languages.
package codec
