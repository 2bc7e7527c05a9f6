package objstore

import (
	"context"
	"fmt"
	"io"
)

// Operation names passed to a FaultyStore's fault function.
const (
	OpPut = "put"
	// OpPutDone is checked after the inner Put succeeded: an error here
	// simulates an upload that landed but whose answer was lost.
	OpPutDone  = "put-done"
	OpGet      = "get"
	OpGetRange = "get-range"
	OpStat     = "stat"
	OpDelete   = "delete"
	OpList     = "list" // key is the prefix
	OpPing     = "ping" // key is ""
)

// FaultyStore wraps an ObjectStore and fails operations chosen by a
// function, for tests of retries, outages and crash points. It is a real
// store: operations that are not failed go to the inner store.
type FaultyStore struct {
	inner ObjectStore
	fault func(op, key string) error
}

var _ ObjectStore = (*FaultyStore)(nil)
var _ RangeGetter = (*FaultyStore)(nil)

// NewFaultyStore returns a store that calls fault(op, key) before each
// operation (op is one of the Op constants) and returns its error, without
// calling inner, when it is not nil. fault must be safe for concurrent use.
func NewFaultyStore(inner ObjectStore, fault func(op, key string) error) *FaultyStore {
	return &FaultyStore{inner: inner, fault: fault}
}

func (f *FaultyStore) check(op, key string) error {
	if err := f.fault(op, key); err != nil {
		return fmt.Errorf("objstore: injected fault in %s %q: %w", op, key, err)
	}
	return nil
}

// Put implements ObjectStore.
func (f *FaultyStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := f.check(OpPut, key); err != nil {
		return err
	}
	if err := f.inner.Put(ctx, key, r, size); err != nil {
		return err
	}
	return f.check(OpPutDone, key)
}

// Get implements ObjectStore.
func (f *FaultyStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.check(OpGet, key); err != nil {
		return nil, err
	}
	return f.inner.Get(ctx, key)
}

// GetRange implements RangeGetter, falling back to Get and skipping when the
// inner store has no range reads.
func (f *FaultyStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := f.check(OpGetRange, key); err != nil {
		return nil, err
	}
	if rg, ok := f.inner.(RangeGetter); ok {
		return rg.GetRange(ctx, key, offset, length)
	}
	rc, err := f.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil && err != io.EOF {
		rc.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length), rc}, nil
}

// Stat implements ObjectStore.
func (f *FaultyStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := f.check(OpStat, key); err != nil {
		return ObjectInfo{}, err
	}
	return f.inner.Stat(ctx, key)
}

// Delete implements ObjectStore.
func (f *FaultyStore) Delete(ctx context.Context, key string) error {
	if err := f.check(OpDelete, key); err != nil {
		return err
	}
	return f.inner.Delete(ctx, key)
}

// List implements ObjectStore.
func (f *FaultyStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := f.check(OpList, prefix); err != nil {
		return nil, err
	}
	return f.inner.List(ctx, prefix)
}

// Ping implements ObjectStore.
func (f *FaultyStore) Ping(ctx context.Context) error {
	if err := f.check(OpPing, ""); err != nil {
		return err
	}
	return f.inner.Ping(ctx)
}

func (f *FaultyStore) String() string { return "faulty(" + f.inner.String() + ")" }
