package parquetio

import (
	"strings"
	"testing"
)

func TestObjectKey(t *testing.T) {
	tests := []struct {
		name string
		in   KeyInfo
		want string
	}{
		{"day partition", KeyInfo{Table: "events", TableCreatedIndex: 12, Partition: "2026-01-02", UptoIndex: 345},
			"data/events/12/2026-01-02/00000000000000000345.parquet"},
		{"hour partition", KeyInfo{Table: "cpu_usage", TableCreatedIndex: 1, Partition: "2026-01-02T13", UptoIndex: 18446744073709551615},
			"data/cpu_usage/1/2026-01-02T13/18446744073709551615.parquet"},
		{"month partition", KeyInfo{Table: "t", TableCreatedIndex: 0, Partition: "2026-01", UptoIndex: 0},
			"data/t/0/2026-01/00000000000000000000.parquet"},
		{"no partition", KeyInfo{Table: "t", TableCreatedIndex: 3, Partition: "", UptoIndex: 9},
			"data/t/3/_/00000000000000000009.parquet"},
		{"partition that is an underscore", KeyInfo{Table: "t", TableCreatedIndex: 3, Partition: "_", UptoIndex: 9},
			"data/t/3/%5F/00000000000000000009.parquet"},
		{"unsafe table name", KeyInfo{Table: "../a b/%.c", TableCreatedIndex: 3, Partition: "x/y", UptoIndex: 9},
			"data/%2E%2E%2Fa%20b%2F%25%2Ec/3/x%2Fy/00000000000000000009.parquet"},
		{"non-ASCII", KeyInfo{Table: "é", TableCreatedIndex: 3, Partition: "", UptoIndex: 9},
			"data/%C3%A9/3/_/00000000000000000009.parquet"},
		{"empty table", KeyInfo{Table: "", TableCreatedIndex: 3, Partition: "", UptoIndex: 9},
			"data/_/3/_/00000000000000000009.parquet"},
		{"compaction output", KeyInfo{Table: "events", TableCreatedIndex: 12, Partition: "2026-01-02", UptoIndex: 345, CompactionID: 400},
			"data/events/12/2026-01-02/00000000000000000345-00000000000000000400.parquet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CompactedObjectKey(tc.in.Table, tc.in.TableCreatedIndex, tc.in.Partition, tc.in.UptoIndex, tc.in.CompactionID)
			if got != tc.want {
				t.Fatalf("key = %q, want %q", got, tc.want)
			}
			if tc.in.CompactionID == 0 {
				if k := ObjectKey(tc.in.Table, tc.in.TableCreatedIndex, tc.in.Partition, tc.in.UptoIndex); k != got {
					t.Fatalf("ObjectKey = %q, CompactedObjectKey(…, 0) = %q", k, got)
				}
			}
			if err := ValidateKey(got); err != nil {
				t.Fatalf("key is not valid for the stores: %v", err)
			}
			back, err := ParseObjectKey(got)
			if err != nil {
				t.Fatal(err)
			}
			if back != tc.in {
				t.Fatalf("ParseObjectKey = %+v, want %+v", back, tc.in)
			}
			if !strings.HasPrefix(got, PartitionPrefix(tc.in.Table, tc.in.TableCreatedIndex, tc.in.Partition)) ||
				!strings.HasPrefix(got, TablePrefix(tc.in.Table, tc.in.TableCreatedIndex)) ||
				!strings.HasPrefix(got, DataPrefix) {
				t.Fatal("key does not start with its prefixes")
			}
		})
	}
}

func TestObjectKeyOrder(t *testing.T) {
	// Within a partition, keys sort by upto index.
	a := ObjectKey("t", 1, "p", 99)
	b := ObjectKey("t", 1, "p", 100)
	if !(a < b) {
		t.Fatalf("%q >= %q", a, b)
	}
	// Different incarnations of a table never share a prefix.
	if strings.HasPrefix(TablePrefix("t", 12), TablePrefix("t", 1)) {
		t.Fatal("table prefix of incarnation 1 is a prefix of incarnation 12")
	}
}

func TestParseObjectKeyErrors(t *testing.T) {
	for _, key := range []string{
		"",
		"events/12/p/00000000000000000001.parquet",
		"data/events/12/p/00000000000000000001.csv",
		"data/events/12/00000000000000000001.parquet",
		"data/events/12/p/extra/00000000000000000001.parquet",
		"data/events/012/p/00000000000000000001.parquet",
		"data/events//p/00000000000000000001.parquet",
		"data/events/x/p/00000000000000000001.parquet",
		"data/events/12/p/1.parquet",
		"data/events/12/p/0000000000000000000x.parquet",
		"data/events/12/p/99999999999999999999.parquet",
		"data/events/12/p/00000000000000000001-00000000000000000000.parquet",
		"data/events/12/p/00000000000000000001-1.parquet",
		"data//12/p/00000000000000000001.parquet",
		"data/a.b/12/p/00000000000000000001.parquet",
		"data/%41/12/p/00000000000000000001.parquet",
		"data/%2e/12/p/00000000000000000001.parquet",
		"data/%2/12/p/00000000000000000001.parquet",
		"data/a%5F/12/p/00000000000000000001.parquet",
	} {
		if k, err := ParseObjectKey(key); err == nil {
			t.Errorf("ParseObjectKey(%q) = %+v, want an error", key, k)
		} else if !strings.HasPrefix(err.Error(), "parquetio: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func FuzzObjectKey(f *testing.F) {
	f.Add("events", uint64(1), "2026-01-02", uint64(5), uint64(0))
	f.Add("", uint64(0), "_", uint64(0), uint64(7))
	f.Add("a/../b", uint64(1), "%5F", uint64(5), uint64(0))
	f.Fuzz(func(t *testing.T, table string, created uint64, partition string, upto, compaction uint64) {
		in := KeyInfo{table, created, partition, upto, compaction}
		key := CompactedObjectKey(table, created, partition, upto, compaction)
		if len(table) < 200 && len(partition) < 100 {
			if err := ValidateKey(key); err != nil {
				t.Fatalf("invalid key %q: %v", key, err)
			}
		}
		got, err := ParseObjectKey(key)
		if err != nil {
			t.Fatalf("ParseObjectKey(%q): %v", key, err)
		}
		if got != in {
			t.Fatalf("round trip %+v -> %q -> %+v", in, key, got)
		}
	})
}
