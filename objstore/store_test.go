package objstore

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustDirStore(t testing.TB) *DirStore {
	t.Helper()
	s, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t testing.TB, s ObjectStore, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t testing.TB, s ObjectStore, key string) string {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return string(b)
}

func keysOf(infos []ObjectInfo) []string {
	var out []string
	for _, o := range infos {
		out = append(out, o.Key)
	}
	return out
}

// testStoreSemantics checks the ObjectStore contract; it runs against every
// backend (the S3 one in s3store_test.go).
func testStoreSemantics(t *testing.T, s ObjectStore) {
	ctx := context.Background()

	t.Run("get missing", func(t *testing.T) {
		_, err := s.Get(ctx, "nope/missing.parquet")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing: %v, want ErrNotFound", err)
		}
		_, err = s.Stat(ctx, "nope/missing.parquet")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat missing: %v, want ErrNotFound", err)
		}
		if rg, ok := s.(RangeGetter); ok {
			_, err = rg.GetRange(ctx, "nope/missing.parquet", 0, 10)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetRange missing: %v, want ErrNotFound", err)
			}
		}
	})

	t.Run("put get overwrite", func(t *testing.T) {
		put(t, s, "a/b/c.txt", "first")
		if got := get(t, s, "a/b/c.txt"); got != "first" {
			t.Fatalf("Get = %q", got)
		}
		put(t, s, "a/b/c.txt", "second, longer")
		if got := get(t, s, "a/b/c.txt"); got != "second, longer" {
			t.Fatalf("Get after overwrite = %q", got)
		}
		info, err := s.Stat(ctx, "a/b/c.txt")
		if err != nil {
			t.Fatal(err)
		}
		if info.Key != "a/b/c.txt" || info.Size != int64(len("second, longer")) {
			t.Fatalf("Stat = %+v", info)
		}
		if time.Since(info.ModTime) > time.Hour || time.Until(info.ModTime) > time.Hour {
			t.Fatalf("Stat ModTime = %v", info.ModTime)
		}
		put(t, s, "empty", "")
		if got := get(t, s, "empty"); got != "" {
			t.Fatalf("empty object = %q", got)
		}
	})

	t.Run("put unknown size", func(t *testing.T) {
		if err := s.Put(ctx, "unknown-size", strings.NewReader("abc"), -1); err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, "unknown-size"); got != "abc" {
			t.Fatalf("Get = %q", got)
		}
	})

	t.Run("put size mismatch stores nothing", func(t *testing.T) {
		put(t, s, "mismatch", "old")
		// Seekable readers and plain ones (io.MultiReader hides Seek).
		for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, func(r io.Reader) io.Reader { return io.MultiReader(r) }} {
			if err := s.Put(ctx, "mismatch", wrap(strings.NewReader("toolong")), 3); err == nil {
				t.Fatal("Put with a longer reader succeeded")
			}
			if err := s.Put(ctx, "mismatch", wrap(strings.NewReader("x")), 3); err == nil {
				t.Fatal("Put with a shorter reader succeeded")
			}
			if err := s.Put(ctx, "mismatch", wrap(strings.NewReader("x")), 0); err == nil {
				t.Fatal("Put of size 0 with a non-empty reader succeeded")
			}
		}
		if got := get(t, s, "mismatch"); got != "old" {
			t.Fatalf("after failed Puts, Get = %q, want old", got)
		}
	})

	t.Run("range", func(t *testing.T) {
		rg, ok := s.(RangeGetter)
		if !ok {
			t.Skip("no RangeGetter")
		}
		put(t, s, "range", "0123456789")
		for _, tc := range []struct {
			off, n int64
			want   string
		}{{0, 3, "012"}, {7, 3, "789"}, {8, 10, "89"}, {10, 5, ""}, {20, 5, ""}, {4, 0, ""}} {
			rc, err := rg.GetRange(ctx, "range", tc.off, tc.n)
			if err != nil {
				t.Fatalf("GetRange(%d, %d): %v", tc.off, tc.n, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != tc.want {
				t.Fatalf("GetRange(%d, %d) = %q, %v; want %q", tc.off, tc.n, b, err, tc.want)
			}
		}
		ra := NewReaderAt(ctx, s, "range", 10)
		p := make([]byte, 4)
		if n, err := ra.ReadAt(p, 8); n != 2 || err != io.EOF || string(p[:2]) != "89" {
			t.Fatalf("ReadAt at the end = %d, %v, %q", n, err, p[:n])
		}
	})

	t.Run("list sorted by key with prefix", func(t *testing.T) {
		for _, k := range []string{"l/b/2", "l/a-c", "l/a/1", "l/a/0", "l/ab", "lz", "l/b/1"} {
			put(t, s, k, k)
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"l/", []string{"l/a-c", "l/a/0", "l/a/1", "l/ab", "l/b/1", "l/b/2"}},
			{"l/a", []string{"l/a-c", "l/a/0", "l/a/1", "l/ab"}},
			{"l/a/", []string{"l/a/0", "l/a/1"}},
			{"l/b/1", []string{"l/b/1"}},
			{"l", []string{"l/a-c", "l/a/0", "l/a/1", "l/ab", "l/b/1", "l/b/2", "lz"}},
			{"l/zzz/", nil},
			{"l/../", nil},
			{"nothing", nil},
		}
		for _, tc := range tests {
			infos, err := s.List(ctx, tc.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tc.prefix, err)
			}
			if got := keysOf(infos); !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
			for _, o := range infos {
				if o.Size != int64(len(o.Key)) {
					t.Errorf("List(%q): %s has size %d", tc.prefix, o.Key, o.Size)
				}
			}
		}
		all, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(all, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) }) {
			t.Errorf("List(\"\") not sorted: %q", keysOf(all))
		}
	})

	t.Run("delete", func(t *testing.T) {
		put(t, s, "d/x", "x")
		if err := s.Delete(ctx, "d/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "d/x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := s.Delete(ctx, "d/x"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		if err := s.Delete(ctx, "never/was"); err != nil {
			t.Fatalf("Delete of a never-existing key: %v", err)
		}
	})

	t.Run("bad keys rejected", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "a\x00b", `a\b`, "x/" + TempFilePrefix + "put-1", strings.Repeat("k", 1025)} {
			if err := s.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
			}
			if _, err := s.Get(ctx, k); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Get(%q) = %v, want ErrInvalidKey", k, err)
			}
			if _, err := s.Stat(ctx, k); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidKey", k, err)
			}
			if err := s.Delete(ctx, k); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidKey", k, err)
			}
		}
	})

	t.Run("download", func(t *testing.T) {
		put(t, s, "dl/obj", "payload")
		dir := t.TempDir()
		dst := filepath.Join(dir, "cached.parquet")
		if err := os.WriteFile(dst, []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Download(ctx, s, "dl/obj", dst); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(dst); string(b) != "payload" {
			t.Fatalf("downloaded %q", b)
		}
		err := Download(ctx, s, "dl/missing", filepath.Join(dir, "missing"))
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Download missing: %v", err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("download left files behind: %v", entries)
		}
	})

	t.Run("ping and string", func(t *testing.T) {
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if s.String() == "" {
			t.Fatal("empty String()")
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, "cancelled", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
			t.Errorf("Put with a cancelled context: %v", err)
		}
		if _, err := s.List(cctx, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("List with a cancelled context: %v", err)
		}
	})
}

func TestDirStore(t *testing.T) {
	testStoreSemantics(t, mustDirStore(t))
}

func TestDirStoreLayout(t *testing.T) {
	s := mustDirStore(t)
	ctx := context.Background()
	put(t, s, "data/t/1/_/x.parquet", "x")
	if b, err := os.ReadFile(filepath.Join(s.Dir(), "data", "t", "1", "_", "x.parquet")); err != nil || string(b) != "x" {
		t.Fatalf("file not at the key's path: %q %v", b, err)
	}
	// Temporary files (a crashed Put) are not listed.
	if err := os.WriteFile(filepath.Join(s.Dir(), "data", "t", TempFilePrefix+"put-123"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(infos); !slices.Equal(got, []string{"data/t/1/_/x.parquet"}) {
		t.Fatalf("List = %q", got)
	}
	// A directory is not an object.
	if _, err := s.Stat(ctx, "data/t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat of a directory: %v", err)
	}
	if _, err := s.Get(ctx, "data/t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a directory: %v", err)
	}
	if _, err := s.Get(ctx, "data/t/1/_/x.parquet/below"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get below a file: %v", err)
	}
}

func TestDirStoreConcurrentPuts(t *testing.T) {
	s := mustDirStore(t)
	ctx := context.Background()
	bodies := []string{strings.Repeat("a", 1<<16), strings.Repeat("b", 1<<17)}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				body := bodies[i%2]
				if err := s.Put(ctx, "same/key", strings.NewReader(body), int64(len(body))); err != nil {
					t.Error(err)
				}
				rc, err := s.Get(ctx, "same/key")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if string(b) != bodies[0] && string(b) != bodies[1] {
					t.Errorf("torn read of %d bytes", len(b))
				}
			}
		})
	}
	wg.Wait()
}

func TestNewDirStoreErrors(t *testing.T) {
	if _, err := NewDirStore(""); err == nil {
		t.Fatal("empty path accepted")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDirStore(f); err == nil {
		t.Fatal("a file accepted as directory")
	}
}

func TestFaultyStore(t *testing.T) {
	ctx := context.Background()
	inner := mustDirStore(t)
	boom := errors.New("boom")
	var mu sync.Mutex
	var calls []string
	failing := map[string]bool{}
	s := NewFaultyStore(inner, func(op, key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, op+" "+key)
		if failing[op] {
			return boom
		}
		return nil
	})
	testStoreSemantics(t, s)

	mu.Lock()
	failing[OpPut] = true
	mu.Unlock()
	if err := s.Put(ctx, "k", strings.NewReader("v"), 1); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want boom", err)
	}
	if _, err := inner.Stat(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed Put reached the inner store: %v", err)
	}

	mu.Lock()
	failing = map[string]bool{OpPutDone: true}
	mu.Unlock()
	if err := s.Put(ctx, "k", strings.NewReader("v"), 1); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want boom", err)
	}
	if got := get(t, inner, "k"); got != "v" {
		t.Fatalf("put-done fault: inner has %q, want the upload to have landed", got)
	}

	mu.Lock()
	failing = map[string]bool{OpGet: true, OpList: true, OpStat: true, OpDelete: true, OpPing: true, OpGetRange: true}
	mu.Unlock()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, boom) {
		t.Error("Get not failed")
	}
	if _, err := s.GetRange(ctx, "k", 0, 1); !errors.Is(err, boom) {
		t.Error("GetRange not failed")
	}
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, boom) {
		t.Error("Stat not failed")
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, boom) {
		t.Error("List not failed")
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, boom) {
		t.Error("Delete not failed")
	}
	if err := s.Ping(ctx); !errors.Is(err, boom) {
		t.Error("Ping not failed")
	}
	if !slices.Contains(calls, "get k") || !slices.Contains(calls, "put-done k") {
		t.Errorf("calls = %q", calls)
	}
}

func TestReaderAtWithoutRangeGetter(t *testing.T) {
	s := struct{ ObjectStore }{mustDirStore(t)} // hides GetRange
	put(t, s, "obj", "0123456789")
	ra := NewReaderAt(context.Background(), s, "obj", 10)
	p := make([]byte, 3)
	if n, err := ra.ReadAt(p, 5); n != 3 || err != nil || string(p) != "567" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, p)
	}
	// FaultyStore gives range reads over a store without them.
	f := NewFaultyStore(s, func(op, key string) error { return nil })
	rc, err := f.GetRange(context.Background(), "obj", 8, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "89" {
		t.Fatalf("GetRange = %q", b)
	}
}
