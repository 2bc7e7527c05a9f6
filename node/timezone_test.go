package node

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTimeZoneIndependent runs a node in a process whose TZ is not UTC and
// requires the same answers as in UTC: before the engine fixed DuckDB's
// TimeZone, a TIMESTAMPTZ literal was read in the host's zone by DuckDB but
// as UTC by pruning, so flushed rows were lost that the same query
// returned while they were hot. The zone is read at process start, so the
// test re-runs itself in a child process with TZ set.
func TestTimeZoneIndependent(t *testing.T) {
	if os.Getenv("MINIODB_TZ_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTimeZoneIndependent$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "MINIODB_TZ_CHILD=1", "TZ=Europe/Berlin")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestTimeZoneIndependent") {
			t.Fatalf("child with TZ=Europe/Berlin: %v\n%s", err, out)
		}
		return
	}
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	// Midnight UTC on 2026-01-02 is 01:00 in Berlin.
	if code, body := c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"tz","rows":[
		{"ts":"2026-01-01T23:30:00Z","v":1},{"ts":"2026-01-02T00:30:00Z","v":2},{"ts":"2026-01-02T01:30:00Z","v":3}]}`); code != 200 {
		t.Fatalf("write: %d %s", code, body)
	}
	queries := map[string]string{
		"SELECT sum(v) FROM tz WHERE ts >= TIMESTAMPTZ '2026-01-02 00:00:00Z'":                 `[5]`,
		"SELECT sum(v) FROM tz WHERE ts >= TIMESTAMPTZ '2026-01-02 00:00:00'":                  `[5]`,
		"SELECT sum(v) FROM tz WHERE ts < TIMESTAMPTZ '2026-01-02 01:00:00+01:00'":             `[1]`,
		"SELECT strftime(min(ts), '%Y-%m-%d %H:%M:%S') FROM tz":                                `["2026-01-01 23:30:00"]`,
		"SELECT count(*) FROM tz WHERE date_trunc('day', ts::TIMESTAMPTZ) = DATE '2026-01-02'": `[2]`,
	}
	check := func(when string) {
		for q, want := range queries {
			if got := strings.TrimSpace(c.sql(q)); got != want {
				t.Errorf("%s (%s): got %s, want %s", q, when, got, want)
			}
		}
	}
	check("hot")
	c.flush("tz")
	check("flushed")
}
