package record

import "errors"

// ErrBad marks a record that does not decode. The readers of many records
// (store's Instances, PublishedAll) skip such a record and return the others
// with an error wrapping ErrBad that names each skipped key: whoever can write
// garbage into etcd must not hide the good records from a new leader.
var ErrBad = errors.New("record does not decode")
