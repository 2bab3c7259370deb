package rows

import "github.com/apache/arrow-go/v18/arrow"

// compatible reports whether a column of type got can be read into a
// field whose type is want: the same types, nullability aside at every
// level. A nullable column reads into a non-pointer field as long as it
// holds no null (checked per value, ErrNull), and a non-nullable one into
// a pointer field always, as at the top level.
func compatible(got, want arrow.DataType) bool {
	if got.ID() != want.ID() {
		return false
	}
	switch w := want.(type) {
	case *arrow.ListType:
		return compatible(got.(*arrow.ListType).Elem(), w.Elem())
	case *arrow.FixedSizeListType:
		g := got.(*arrow.FixedSizeListType)
		return g.Len() == w.Len() && compatible(g.Elem(), w.Elem())
	case *arrow.MapType:
		g := got.(*arrow.MapType)
		return compatible(g.KeyType(), w.KeyType()) && compatible(g.ItemType(), w.ItemType())
	case *arrow.StructType:
		g := got.(*arrow.StructType)
		if g.NumFields() != w.NumFields() {
			return false
		}
		for i := 0; i < w.NumFields(); i++ {
			if g.Field(i).Name != w.Field(i).Name || !compatible(g.Field(i).Type, w.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return arrow.TypeEqual(got, want)
}
