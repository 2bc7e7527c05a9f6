package miniotest

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func ready(s *Server) bool {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + s.Endpoint + "/minio/health/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	if !ready(s) || !s.Running() {
		t.Fatal("not ready after Start")
	}
	if s.AccessKey == "" || len(s.SecretKey) < 8 || !strings.HasPrefix(s.Endpoint, "127.0.0.1:") {
		t.Fatalf("bad server fields: %+v", s)
	}
	if want := "s3://b/p?endpoint=" + s.Endpoint + "&insecure=true"; s.URL("b", "p") != want {
		t.Fatalf("URL = %q, want %q", s.URL("b", "p"), want)
	}
	endpoint := s.Endpoint

	s.Stop()
	if ready(s) || s.Running() {
		t.Fatal("still answering after Stop")
	}
	s.Stop() // idempotent

	s.Restart()
	if !ready(s) || s.Endpoint != endpoint {
		t.Fatal("not ready on the same address after Restart")
	}

	s.Pause()
	if ready(s) {
		t.Fatal("answering while paused")
	}
	s.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for !ready(s) {
		if time.Now().After(deadline) {
			t.Fatal("not ready after Resume")
		}
		time.Sleep(50 * time.Millisecond)
	}

	s.Kill()
	if s.Running() {
		t.Fatal("running after Kill")
	}
	s.Restart()
	if !ready(s) {
		t.Fatal("not ready after Kill and Restart")
	}
	if b, err := os.ReadFile(s.LogPath); err != nil || strings.Count(string(b), "=== miniotest: starting") != 3 {
		t.Fatalf("log %s does not record three starts: %v\n%s", s.LogPath, err, s.LogTail(20))
	}
}

func TestSkipWithoutBinary(t *testing.T) {
	t.Setenv(EnvBinary, "")
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Start(t)
	})
	if !skipped {
		t.Fatal("Start did not skip without the binary")
	}
}
