package objstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStoreURL(t *testing.T) {
	cwd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url     string
		wantDir string
		wantS3  S3Config
		wantErr string
	}{
		{url: "/var/lib/miniodb/objects", wantDir: "/var/lib/miniodb/objects"},
		{url: "/var/lib/../lib/x/", wantDir: "/var/lib/x"},
		{url: "./data/objects", wantDir: filepath.Join(cwd, "data/objects")},
		{url: "data", wantDir: filepath.Join(cwd, "data")},
		{url: "file:///srv/objects", wantDir: "/srv/objects"},
		{url: "file://localhost/srv/objects", wantDir: "/srv/objects"},
		{url: "s3://bucket", wantS3: S3Config{Bucket: "bucket", Endpoint: DefaultS3Endpoint}},
		{url: "s3://my-bucket/some/prefix?endpoint=127.0.0.1:9000&insecure=true&region=us-east-1",
			wantS3: S3Config{Bucket: "my-bucket", Prefix: "some/prefix", Endpoint: "127.0.0.1:9000", Insecure: true, Region: "us-east-1"}},
		{url: "s3://b.example/p/?endpoint=minio:9000&insecure=false",
			wantS3: S3Config{Bucket: "b.example", Prefix: "p/", Endpoint: "minio:9000"}},

		{url: "", wantErr: "empty"},
		{url: "   ", wantErr: "empty"},
		{url: "gs://bucket/x", wantErr: `unsupported scheme "gs"`},
		{url: "s3:bucket", wantErr: `scheme "s3" needs "://"`},
		{url: "file:relative/path", wantErr: `scheme "file" needs "://"`},
		{url: "file://host/srv", wantErr: `file URL has host "host"`},
		{url: "file://", wantErr: "needs an absolute path"},
		{url: "file:///srv?x=1", wantErr: "takes no query"},
		{url: "s3://", wantErr: "missing bucket"},
		{url: "s3:///prefix", wantErr: "missing bucket"},
		{url: "s3://bucket:9000/p", wantErr: "contains a port"},
		{url: "s3://bucket?endpont=x:1", wantErr: `unknown parameter "endpont"`},
		{url: "s3://bucket?endpoint=", wantErr: "endpoint is empty"},
		{url: "s3://bucket?endpoint=http://x:9000", wantErr: "without scheme or path"},
		{url: "s3://bucket?insecure=maybe", wantErr: `insecure="maybe" is not a boolean`},
		{url: "s3://bucket?region=a&region=b", wantErr: `"region" given 2 times`},
		{url: "s3://Bucket_Name", wantErr: "not a valid S3 bucket name"},
		{url: "s3://bucket/a//b", wantErr: "empty segment"},
		{url: "s3://bucket/../x", wantErr: `".." segment`},
		{url: "s3://key:secret@bucket/p", wantErr: "credentials in the URL are not accepted"},
		{url: "s3://bucket/p#frag", wantErr: "no fragment"},
		{url: "s3://bucket/%zz", wantErr: "invalid URL escape"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			spec, err := parseStoreURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error leaks the secret: %v", err)
				}
				if !strings.HasPrefix(err.Error(), "objstore: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.dir != tc.wantDir || spec.s3 != tc.wantS3 {
				t.Fatalf("got dir=%q s3=%+v, want dir=%q s3=%+v", spec.dir, spec.s3, tc.wantDir, tc.wantS3)
			}
		})
	}
}

func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{dir, "file://" + dir} {
		s, err := OpenStore(ctx, u, Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		ds, ok := s.(*DirStore)
		if !ok || ds.Dir() != dir {
			t.Fatalf("OpenStore(%q) = %v", u, s)
		}
	}
	_, err := OpenStore(ctx, "s3://bucket?endpoint=127.0.0.1:1", Credentials{})
	if err == nil || !strings.Contains(err.Error(), "credentials are missing") {
		t.Fatalf("OpenStore without credentials: %v", err)
	}
}
