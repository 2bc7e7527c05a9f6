package parquetio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/miniodb/miniodb/internal/miniotest"
	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func s3Config(srv *miniotest.Server, bucket, prefix string) S3Config {
	return S3Config{
		Endpoint:  srv.Endpoint,
		Bucket:    bucket,
		Prefix:    prefix,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Insecure:  true,
	}
}

func mustS3Store(t testing.TB, srv *miniotest.Server, bucket, prefix string) *S3Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := NewS3Store(ctx, s3Config(srv, bucket, prefix))
	if err != nil {
		t.Fatalf("NewS3Store: %v\nserver log:\n%s", err, srv.LogTail(20))
	}
	return s
}

// TestS3Store runs everything against one real MinIO server (starting it
// is the slow part).
func TestS3Store(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()

	t.Run("semantics", func(t *testing.T) {
		testStoreSemantics(t, mustS3Store(t, srv, "semantics", ""))
	})

	t.Run("semantics with prefix", func(t *testing.T) {
		testStoreSemantics(t, mustS3Store(t, srv, "prefixed", "cluster-a/objects"))
	})

	t.Run("bucket is created once and shared", func(t *testing.T) {
		a := mustS3Store(t, srv, "shared", "a")
		b := mustS3Store(t, srv, "shared", "b/") // bucket exists now
		put(t, a, "k", "from a")
		put(t, b, "k", "from b")
		if got := get(t, a, "k"); got != "from a" {
			t.Fatalf("prefix a sees %q", got)
		}
		infos, err := b.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(infos); !slices.Equal(got, []string{"k"}) {
			t.Fatalf("prefix b lists %q", got)
		}
		root := mustS3Store(t, srv, "shared", "")
		infos, err = root.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(infos); !slices.Equal(got, []string{"a/k", "b/k"}) {
			t.Fatalf("bucket root lists %q", got)
		}
		if !strings.Contains(a.String(), "s3://shared/a/") || strings.Contains(a.String(), srv.SecretKey) {
			t.Fatalf("String() = %q", a.String())
		}
	})

	t.Run("large object uses multipart", func(t *testing.T) {
		s := mustS3Store(t, srv, "large", "")
		data := make([]byte, 20<<20+12345)
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < len(data); i += 8 {
			v := r.Uint64()
			for k := 0; k < 8 && i+k < len(data); k++ {
				data[i+k] = byte(v >> (8 * k))
			}
		}
		want := sha256.Sum256(data)
		for _, tc := range []struct {
			key  string
			r    io.Reader
			size int64
		}{
			{"big/readerat", bytes.NewReader(data), int64(len(data))},              // parallel parts
			{"big/plain", io.MultiReader(bytes.NewReader(data)), int64(len(data))}, // streamed parts
			{"big/unknown", io.MultiReader(bytes.NewReader(data)), -1},
		} {
			key := tc.key
			if err := s.Put(ctx, key, tc.r, tc.size); err != nil {
				t.Fatalf("Put(%s): %v", key, err)
			}
			info, err := s.Stat(ctx, key)
			if err != nil || info.Size != int64(len(data)) {
				t.Fatalf("Stat = %+v, %v", info, err)
			}
			rc, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("object %s differs after the round trip", key)
			}
			// The ETag of a multipart upload has a "-<parts>" suffix.
			oi, err := s.client.StatObject(ctx, s.bucket, key, minioStatOpts())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(oi.ETag, "-") {
				t.Errorf("ETag %q of %s: not a multipart upload", oi.ETag, key)
			}
		}
	})

	t.Run("parquet file round trip", func(t *testing.T) {
		s := mustS3Store(t, srv, "data", "")
		rows := randomRows(rand.New(rand.NewPCG(4, 4)), 2000)
		data, meta := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, rows...)}, WriteOptions{RowGroupRows: 500})
		key := ObjectKey(KeyInfo{Table: "events", TableCreatedIndex: 7, Partition: "2026-01-02", FromIndex: 1000, UptoIndex: 1234, Term: 2, Seq: 1})
		if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		// Whole object.
		rc, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get: %d bytes, %v", len(got), err)
		}
		readMeta, schema, err := ReadStats(bytes.NewReader(got), int64(len(got)))
		if err != nil {
			t.Fatal(err)
		}
		checkMeta(t, readMeta, meta)
		if !schemaEqual(schema, allTypesSchema) {
			t.Fatalf("schema %v", schema)
		}
		// Footer only, with range reads.
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		readMeta, _, err = ReadStats(NewReaderAt(ctx, s, key, info.Size), info.Size)
		if err != nil {
			t.Fatal(err)
		}
		checkMeta(t, readMeta, meta)
		// Download into a cache directory and read every row back.
		local := filepath.Join(t.TempDir(), "f.parquet")
		if err := Download(ctx, s, key, local); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(local)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		batches, err := ReadBatches(f, info.Size)
		if err != nil {
			t.Fatal(err)
		}
		if len(batches) != 4 {
			t.Errorf("%d row groups, want 4", len(batches))
		}
		if !slices.EqualFunc(rowsOf(t, allTypesSchema, batches), sortedByTS(rows), func(a, b []cell) bool { return slices.Equal(a, b) }) {
			t.Fatal("rows differ after the S3 round trip")
		}
		// Listing by the key layout's prefixes.
		infos, err := s.List(ctx, PartitionPrefix("events", 7, "2026-01-02"))
		if err != nil || len(infos) != 1 || infos[0].Key != key || infos[0].Size != int64(len(data)) {
			t.Fatalf("List = %+v, %v", infos, err)
		}
	})

	t.Run("OpenStore", func(t *testing.T) {
		s, err := OpenStore(ctx, srv.URL("opened", "x/y"), Credentials{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		s3, ok := s.(*S3Store)
		if !ok || s3.Bucket() != "opened" || s3.Prefix() != "x/y/" {
			t.Fatalf("OpenStore = %v", s)
		}
		put(t, s, "k", "v")
		if got := get(t, s, "k"); got != "v" {
			t.Fatalf("Get = %q", got)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		cfg := s3Config(srv, "semantics", "")
		cfg.SecretKey = "wrong-secret-key"
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := NewS3Store(cctx, cfg)
		if err == nil {
			t.Fatal("NewS3Store with a wrong secret succeeded")
		}
		if strings.Contains(err.Error(), "wrong-secret-key") {
			t.Fatalf("error leaks the secret: %v", err)
		}
	})

	// Last: it stops the server.
	t.Run("outage", func(t *testing.T) {
		s := mustS3Store(t, srv, "outage", "")
		put(t, s, "before", "x")
		srv.Stop()
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := s.Put(cctx, "during", strings.NewReader("x"), 1); err == nil {
			t.Fatal("Put succeeded with the server down")
		}
		if err := s.Ping(cctx); err == nil {
			t.Fatal("Ping succeeded with the server down")
		}
		if _, err := s.Get(cctx, "before"); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Get with the server down = %v, want an error that is not ErrNotFound", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("failing calls took %v; the context should bound them", time.Since(start))
		}
		srv.Restart()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after restart: %v", err)
		}
		if got := get(t, s, "before"); got != "x" {
			t.Fatalf("after restart Get = %q", got)
		}
		put(t, s, "after", "y")
	})
}

func checkMeta(t *testing.T, got, want FileMeta) {
	t.Helper()
	if got.RowCount != want.RowCount || len(got.Stats) != len(want.Stats) {
		t.Fatalf("meta = %v, want %v", got, want)
	}
	for i := range want.Stats {
		if !statsEqual(got.Stats[i], want.Stats[i]) {
			t.Errorf("stats[%d] = %v, want %v", i, got.Stats[i], want.Stats[i])
		}
	}
}

func minioStatOpts() minio.StatObjectOptions { return minio.StatObjectOptions{} }

// TestS3StoreOpensDuringOutage: a store opened while the service does not
// answer works once it is back (the bucket is created before the first
// upload), so a node can start during an object-store outage; a service
// that answers with a refusal still fails the open.
func TestS3StoreOpensDuringOutage(t *testing.T) {
	srv := miniotest.Start(t)
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := NewS3Store(ctx, s3Config(srv, "late-bucket", ""))
	if err != nil {
		t.Fatalf("open during the outage: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded while the service is down")
	}
	srv.Restart()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := s.Put(ctx2, "data/a.parquet", strings.NewReader("x"), 1); err != nil {
		t.Fatalf("Put after the outage: %v", err)
	}
	if err := s.Ping(ctx2); err != nil {
		t.Fatalf("Ping after the outage: %v", err)
	}
	bad := s3Config(srv, "late-bucket", "")
	bad.SecretKey = "wrong-secret-key"
	if _, err := NewS3Store(ctx2, bad); err == nil {
		t.Fatal("wrong credentials opened a store")
	}
}
