package objstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3Store keeps its objects.
type S3Config struct {
	// Endpoint is host[:port] of the S3 service, without a scheme,
	// e.g. "127.0.0.1:9000" or "s3.amazonaws.com".
	Endpoint string
	Bucket   string
	// Prefix is prepended to every key; a missing trailing "/" is added.
	// Empty: keys are used as they are.
	Prefix    string
	AccessKey string
	SecretKey string
	// Region is optional for MinIO; "" lets minio-go discover it.
	Region string
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool
}

// Validate reports every problem of c in one error.
func (c S3Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint is empty"))
	} else if strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		errs = append(errs, fmt.Errorf("endpoint %q must be host[:port] without scheme or path", c.Endpoint))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is empty"))
	} else if len(c.Bucket) < 3 || len(c.Bucket) > 63 || strings.ContainsAny(c.Bucket, "/_ ") || strings.ToLower(c.Bucket) != c.Bucket {
		errs = append(errs, fmt.Errorf("bucket %q is not a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')", c.Bucket))
	}
	if c.Prefix != "" {
		if err := ValidateKey(strings.TrimSuffix(c.Prefix, "/")); err != nil {
			errs = append(errs, fmt.Errorf("prefix %q: %w", c.Prefix, err))
		}
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		errs = append(errs, errors.New("access key or secret key is empty"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("objstore: s3 config: %w", errors.Join(errs...))
}

// S3Store is an ObjectStore in an S3 bucket (MinIO or any S3-compatible
// service), through minio-go. Uploads of 16 MiB and more use multipart
// upload, which minio-go manages; S3 makes both kinds of upload atomic.
type S3Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string
	desc   string
	region string
	// service identifies the endpoint and credentials: stores with the
	// same one can copy between each other server-side.
	service string

	// bucketMu guards bucketOK: whether the bucket is known to exist. A
	// store opened while the service was unreachable checks (and creates)
	// the bucket before its first upload instead, so a node can start, and
	// take writes, during an object-store outage.
	bucketMu sync.Mutex
	bucketOK bool
}

var _ ObjectStore = (*S3Store)(nil)
var _ RangeGetter = (*S3Store)(nil)
var _ Copier = (*S3Store)(nil)

// maxServerSideCopy is the largest object one CopyObject request copies.
const maxServerSideCopy = 5 << 30

// Copy implements Copier: a server-side copy from another S3Store of the
// same service and credentials.
func (s *S3Store) Copy(ctx context.Context, src ObjectStore, srcKey, dstKey string, size int64) (bool, error) {
	from, ok := src.(*S3Store)
	if !ok || from.service != s.service || size > maxServerSideCopy {
		return false, nil
	}
	srcObj, err := from.object(srcKey)
	if err != nil {
		return false, err
	}
	dstObj, err := s.object(dstKey)
	if err != nil {
		return false, err
	}
	if err := s.checkBucket(ctx); err != nil {
		return false, err
	}
	if _, err := s.client.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: dstObj},
		minio.CopySrcOptions{Bucket: from.bucket, Object: srcObj}); err != nil {
		return false, from.mapErr("copy", srcKey, err)
	}
	return true, nil
}

// NewS3Store connects to the service and creates the bucket if it does not
// exist. It fails when the service answers with an error (wrong
// credentials, a bucket it may not create); when the service does not
// answer at all, it returns the store and checks the bucket again before
// the first upload (and on Ping), so a node can start during an outage.
func NewS3Store(ctx context.Context, cfg S3Config) (*S3Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 client for %s: %w", cfg.Endpoint, err)
	}
	scheme := "https"
	if cfg.Insecure {
		scheme = "http"
	}
	s := &S3Store{
		client: client,
		core:   minio.Core{Client: client},
		bucket: cfg.Bucket,
		prefix: prefix,
		desc:   fmt.Sprintf("s3://%s/%s at %s://%s", cfg.Bucket, prefix, scheme, cfg.Endpoint),
		region: cfg.Region,
		// The secret key is part of the identity only as a hash.
		service: fmt.Sprintf("%s://%s %s %x", scheme, cfg.Endpoint, cfg.AccessKey, sha256.Sum256([]byte(cfg.SecretKey))),
	}
	if err := s.checkBucket(ctx); err != nil && answered(err) {
		return nil, err // the service answered: a real refusal
	}
	return s, nil
}

// checkBucket makes sure the bucket exists, once.
func (s *S3Store) checkBucket(ctx context.Context) error {
	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	if s.bucketOK {
		return nil
	}
	if err := s.ensureBucket(ctx, s.region); err != nil {
		return err
	}
	s.bucketOK = true
	return nil
}

// answered reports whether err carries an answer of the service (an S3
// error response), as opposed to no answer (connection refused, timeout).
func answered(err error) bool {
	var r minio.ErrorResponse
	return errors.As(err, &r) && (r.StatusCode != 0 || r.Code != "")
}

func (s *S3Store) ensureBucket(ctx context.Context, region string) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objstore: %s: check bucket: %w", s.desc, err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil {
		code := minio.ToErrorResponse(err).Code
		if code == minio.BucketAlreadyOwnedByYou {
			return nil // created concurrently by another node
		}
		return fmt.Errorf("objstore: %s: create bucket: %w", s.desc, err)
	}
	return nil
}

func (s *S3Store) String() string { return s.desc }

// Bucket returns the store's bucket.
func (s *S3Store) Bucket() string { return s.bucket }

// Prefix returns the store's key prefix ("" or ending in "/").
func (s *S3Store) Prefix() string { return s.prefix }

func (s *S3Store) object(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// mapErr turns minio's not-found responses into ErrNotFound. A missing
// bucket is not ErrNotFound: it is a broken store, not a missing object.
func (s *S3Store) mapErr(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == minio.NoSuchKey || (resp.StatusCode == http.StatusNotFound && resp.Code == "") {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return fmt.Errorf("objstore: %s %q in %s: %w", op, key, s.desc, err)
}

// partSizeUnknownLength is the multipart part size for uploads of unknown
// length: minio-go buffers one part in memory, and its own default would be
// 512 MiB. Objects of unknown length are thus limited to 10,000 parts
// (156 GiB).
const partSizeUnknownLength = 16 << 20

// Put implements ObjectStore.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.checkBucket(ctx); err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if size < 0 {
		opts.PartSize = partSizeUnknownLength
	} else if n, ok := seekableLen(r); ok {
		// Keep r as it is (minio-go uploads parts of an io.ReaderAt in
		// parallel), but check its length first.
		if n != size {
			return fmt.Errorf("objstore: put %q: reader holds %d bytes, want %d", key, n, size)
		}
	} else {
		er := &exactReader{r: r, remaining: size, size: size}
		if size == 0 {
			// minio-go does not read an empty body at all.
			if err := er.checkEnd(); err != io.EOF {
				return fmt.Errorf("objstore: put %q: %w", key, err)
			}
		}
		r = er
	}
	info, err := s.client.PutObject(ctx, s.bucket, obj, r, size, opts)
	if err != nil {
		return s.mapErr("put", key, err)
	}
	if size >= 0 && info.Size != size {
		// minio-go normally catches this itself.
		return fmt.Errorf("objstore: put %q in %s: uploaded %d bytes, want %d", key, s.desc, info.Size, size)
	}
	return nil
}

// seekableLen returns the number of bytes left in r if r can seek (and so
// tell its length without being read).
func seekableLen(r io.Reader) (int64, bool) {
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		return 0, false
	}
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, false
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, false
	}
	return end - cur, true
}

// Get implements ObjectStore.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.mapErr("get", key, err)
	}
	return rc, nil
}

// GetRange implements RangeGetter.
func (s *S3Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("objstore: get %q: negative range %d+%d", key, offset, length)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, offset+length-1); err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, obj, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.InvalidRange {
			// The range starts at or after the end of the object.
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.mapErr("get", key, err)
	}
	return rc, nil
}

// Stat implements ObjectStore.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	obj, err := s.object(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.mapErr("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// Delete implements ObjectStore.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil
		}
		return fmt.Errorf("objstore: delete %q in %s: %w", key, s.desc, err)
	}
	return nil
}

// List implements ObjectStore.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine on early return
	if !prefixCanMatch(prefix) {
		return nil, nil
	}
	var out []ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("objstore: list %q in %s: %w", prefix, s.desc, o.Err)
		}
		key, ok := strings.CutPrefix(o.Key, s.prefix)
		if !ok || strings.HasSuffix(key, "/") {
			continue // directory markers made by other tools
		}
		out = append(out, ObjectInfo{Key: key, Size: o.Size, ModTime: o.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: list %q in %s: %w", prefix, s.desc, err)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Ping implements ObjectStore: the bucket must exist and be reachable with
// the store's credentials.
func (s *S3Store) Ping(ctx context.Context) error {
	if err := s.checkBucket(ctx); err != nil {
		return fmt.Errorf("objstore: ping %s: %w", s.desc, err)
	}
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objstore: ping %s: %w", s.desc, err)
	}
	if !ok {
		return fmt.Errorf("objstore: ping %s: bucket does not exist", s.desc)
	}
	return nil
}
