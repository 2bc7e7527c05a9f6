package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/miniodb/miniodb/internal/miniotest"
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
