package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Credentials are the S3 access key pair. The command line reads them from
// the environment; this package never does.
type Credentials struct {
	AccessKey string
	SecretKey string
}

// DefaultS3Endpoint is used for s3:// URLs without an endpoint parameter.
const DefaultS3Endpoint = "s3.amazonaws.com"

// OpenStore opens the object store that rawURL names:
//
//	/abs/path, ./rel/path, rel/path    a DirStore (relative paths are made absolute)
//	file:///abs/path                   a DirStore
//	s3://bucket[/prefix][?endpoint=host:port][&insecure=true][&region=name]
//
// For s3:// URLs creds must be set; the endpoint defaults to
// s3.amazonaws.com, insecure (plain HTTP) to false. Unknown query parameters
// and credentials inside the URL are rejected.
func OpenStore(ctx context.Context, rawURL string, creds Credentials) (ObjectStore, error) {
	spec, err := parseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	if spec.dir != "" {
		return NewDirStore(spec.dir)
	}
	cfg := spec.s3
	cfg.AccessKey, cfg.SecretKey = creds.AccessKey, creds.SecretKey
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("objstore: object store %q: S3 credentials are missing", redactURL(rawURL))
	}
	return NewS3Store(ctx, cfg)
}

// storeSpec is a parsed store URL: dir or s3 (without credentials).
type storeSpec struct {
	dir string
	s3  S3Config
}

func parseStoreURL(rawURL string) (storeSpec, error) {
	fail := func(format string, args ...any) (storeSpec, error) {
		return storeSpec{}, fmt.Errorf("objstore: object store URL %q: %s", redactURL(rawURL), fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(rawURL) == "" {
		return fail("empty")
	}
	if !strings.Contains(rawURL, "://") {
		if strings.Contains(rawURL, ":") && !strings.HasPrefix(rawURL, "/") && !strings.HasPrefix(rawURL, ".") {
			// "s3:bucket", "file:/x": a scheme without "//".
			scheme, _, _ := strings.Cut(rawURL, ":")
			if !strings.ContainsAny(scheme, "/\\") {
				return fail("want file:///abs/path, s3://bucket/prefix or a plain path (scheme %q needs \"://\")", scheme)
			}
		}
		abs, err := filepath.Abs(rawURL)
		if err != nil {
			return fail("%v", err)
		}
		return storeSpec{dir: abs}, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail("%v", err)
	}
	if u.User != nil {
		return fail("credentials in the URL are not accepted; pass them separately (environment)")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fail("file URL has host %q; want file:///abs/path", u.Host)
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return fail("file URL needs an absolute path: file:///abs/path")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fail("file URL takes no query or fragment")
		}
		return storeSpec{dir: filepath.Clean(filepath.FromSlash(u.Path))}, nil
	case "s3":
		cfg := S3Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/"), Endpoint: DefaultS3Endpoint}
		if cfg.Bucket == "" {
			return fail("missing bucket: want s3://bucket/prefix")
		}
		if u.Port() != "" {
			return fail("bucket %q contains a port; put the server in ?endpoint=host:port", u.Host)
		}
		if u.Fragment != "" {
			return fail("s3 URL takes no fragment")
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return fail("query: %v", err)
		}
		s3Params := []string{"endpoint", "insecure", "region"}
		for name, vals := range q {
			if !slices.Contains(s3Params, name) {
				return fail("unknown parameter %q (known: %s)", name, strings.Join(s3Params, ", "))
			}
			if len(vals) != 1 {
				return fail("parameter %q given %d times", name, len(vals))
			}
		}
		if v, ok := q["endpoint"]; ok {
			if v[0] == "" {
				return fail("endpoint is empty")
			}
			cfg.Endpoint = v[0]
		}
		if v, ok := q["insecure"]; ok {
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return fail("insecure=%q is not a boolean", v[0])
			}
			cfg.Insecure = b
		}
		if v, ok := q["region"]; ok {
			cfg.Region = v[0]
		}
		// Validate everything but the credentials, which come later.
		check := cfg
		check.AccessKey, check.SecretKey = "x", "x"
		if err := check.Validate(); err != nil {
			return fail("%v", strings.TrimPrefix(err.Error(), "objstore: s3 config: "))
		}
		return storeSpec{s3: cfg}, nil
	default:
		return fail("unsupported scheme %q (want file or s3)", u.Scheme)
	}
}

// redactURL removes a password from a URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
