package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func testStatus() *miniodbv1.StatusResponse {
	return &miniodbv1.StatusResponse{
		NodeId: "n2", RaftState: "Follower", LeaderId: "n1", LeaderAddr: "10.0.0.1:7071",
		Term: 7, AppliedIndex: 1200, CommitIndex: 1201, LastLogIndex: 1202,
		Tables: []*miniodbv1.TableStatus{
			{Name: "events", HotRows: 12345, HotBytes: 3 << 20, Files: 12, FileBytes: 1536 << 20, FlushedRows: 9876543,
				MaxFilesPerPartition: 4, Partitions: 3, CompactionsPending: 2, CompactionsRunning: 1},
			{Name: "metrics", HotRows: 0, HotBytes: 0, Files: 1, FileBytes: 2048, FlushedRows: 10},
		},
		CatalogFiles: 13, ObjectStore: "s3://bucket/prefix", ObjectStoreOk: true, RaftLog: "wal",
		HotBytesLimit: 256 << 20, FlushBytesWritten: 1 << 30, CompactionBytesWritten: 3 << 29,
	}
}

func testTable() *miniodbv1.TableInfo {
	return &miniodbv1.TableInfo{
		Name: "events",
		Columns: []*miniodbv1.Column{
			{Name: "ts", Type: miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP},
			{Name: "id", Type: miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR},
			{Name: "value", Type: miniodbv1.ColumnType_COLUMN_TYPE_BIGINT},
		},
		Partitioning: miniodbv1.Partitioning_PARTITIONING_HOUR,
		Flush:        &miniodbv1.FlushPolicy{MaxRows: 100000, MaxAgeMs: 30000},
		HotRows:      5, HotBytes: 500, FlushedRows: 1000, FileCount: 2, FileBytes: 4096, CreatedIndex: 3,
		MaxFilesPerPartition: 2, Partitions: 1, TtlMs: 7 * 24 * 3600 * 1000, Tombstones: 2, Compaction: &miniodbv1.CompactionPolicy{MinFiles: 3, CooldownMs: 5000},
	}
}

func TestWriteStatus(t *testing.T) {
	var b bytes.Buffer
	if err := writeStatus(&b, testStatus()); err != nil {
		t.Fatal(err)
	}
	want := `node id:         n2
raft state:      Follower
leader:          n1 at 10.0.0.1:7071
term:            7
applied index:   1200
commit index:    1201
last log index:  1202
raft log:        wal
object store:    s3://bucket/prefix (ok)
hot buffers:     3.0 MiB in 12,345 rows (limit 256 MiB, 1% used)
catalog:         13 files
compaction:      1 running, 2 pending; since start 1.0 GiB flushed, 1.5 GiB merged (write amplification 2.50)

TABLE    HOT ROWS  HOT BYTES  FILES  FILE BYTES  FLUSHED ROWS  MAX FILES/PARTITION  MERGES
events     12,345    3.0 MiB     12     1.5 GiB     9,876,543                    4  1 running, 2 pending
metrics         0        0 B      1     2.0 KiB            10                    0  0 running, 0 pending
(total)    12,345    3.0 MiB     13     1.5 GiB     9,876,553                       
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteStatusProblems(t *testing.T) {
	st := &miniodbv1.StatusResponse{NodeId: "n1", RaftState: "Candidate", ObjectStore: "dir:/data/objects",
		ObjectStoreError: "permission denied", CatalogFiles: 1}
	var b bytes.Buffer
	writeStatus(&b, st)
	for _, want := range []string{
		"leader:          none known (election in progress?)",
		"object store:    dir:/data/objects (ERROR: permission denied)",
		"catalog:         1 file\n",
		"\nno tables\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
	st.LeaderId = "n1"
	b.Reset()
	writeStatus(&b, st)
	if !strings.Contains(b.String(), "leader:          n1 (this node)") {
		t.Errorf("leader line:\n%s", b.String())
	}
}

func TestWriteTables(t *testing.T) {
	var b bytes.Buffer
	writeTableList(&b, []*miniodbv1.TableInfo{testTable(), {Name: "empty"}})
	want := `NAME    COLUMNS   ROWS  HOT ROWS  HOT BYTES  FILES  FILE BYTES  MAX FILES/PARTITION  PARTITIONING
events        3  1,005         5      500 B      2     4.0 KiB                    2  hour
empty         0      0         0        0 B      0         0 B                    0  day
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeTableList(&b, nil)
	if !strings.HasPrefix(b.String(), "no tables") {
		t.Errorf("empty list: %q", b.String())
	}

	b.Reset()
	writeTableInfo(&b, testTable())
	want = `table:             events
rows:              1,005 (5 hot, 1,000 flushed)
hot bytes:         500 B
files:             2 (4.0 KiB) in 1 partition, at most 2 in one
partitioning:      hour
schema:            inferred from rows (grows as new fields arrive)
flush:             at 100,000 rows or 30s (server defaults for the rest)
compaction:        at least 3 files per merge, cooldown 5s (server defaults for the rest)
retention:         rows older than 168h0m0s are removed
deletes:           2 deletes still in files (hidden from queries until compaction rewrites them)
created at index:  3

COLUMN  TYPE
ts      TIMESTAMP
id      VARCHAR
value   BIGINT
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCompactSummary(t *testing.T) {
	tests := []struct {
		table string
		resp  *miniodbv1.CompactResponse
		want  string
	}{
		{"", &miniodbv1.CompactResponse{}, "nothing to merge in all tables"},
		{"events", &miniodbv1.CompactResponse{Merges: 2, FilesMerged: 40, Rows: 1000, BytesRead: 40 << 10, BytesWritten: 30 << 10},
			"merged 40 files in 2 merges (1,000 rows, 40 KiB → 30 KiB) in events in 0.50 s"},
	}
	for _, tt := range tests {
		if got := compactSummary(tt.table, tt.resp, 500*time.Millisecond); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if got := compactionPolicyText(&miniodbv1.CompactionPolicy{Disabled: true}); got != "off for this table" {
		t.Errorf("disabled: %q", got)
	}
	if got := compactionPolicyText(nil); got != "server defaults" {
		t.Errorf("nil: %q", got)
	}
}

func TestFlushSummary(t *testing.T) {
	tests := []struct {
		table string
		resp  *miniodbv1.FlushResponse
		want  string
	}{
		{"", &miniodbv1.FlushResponse{}, "nothing to flush in all tables (no hot rows)"},
		{"events", &miniodbv1.FlushResponse{FilesWritten: 1, RowsFlushed: 1}, "flushed 1 row from events into 1 Parquet file in 0.50 s"},
		{"", &miniodbv1.FlushResponse{FilesWritten: 3, RowsFlushed: 12000}, "flushed 12,000 rows from all tables into 3 Parquet files in 0.50 s"},
	}
	for _, tt := range tests {
		if got := flushSummary(tt.table, tt.resp, 500*time.Millisecond); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
