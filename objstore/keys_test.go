package objstore

import (
	"strings"
	"testing"
)

func TestObjectKey(t *testing.T) {
	const tail = "-00000000000000000007-00000000000000000003.parquet"
	tests := []struct {
		name string
		in   KeyInfo
		want string
	}{
		{"day partition", KeyInfo{Table: "events", TableCreatedIndex: 12, Partition: "2026-01-02", FromIndex: 300, UptoIndex: 345, Term: 7, Seq: 3},
			"data/events/12/2026-01-02/00000000000000000300-00000000000000000345" + tail},
		{"hour partition", KeyInfo{Table: "cpu_usage", TableCreatedIndex: 1, Partition: "2026-01-02T13", UptoIndex: 18446744073709551615, Term: 7, Seq: 3},
			"data/cpu_usage/1/2026-01-02T13/00000000000000000000-18446744073709551615" + tail},
		{"month partition", KeyInfo{Table: "t", TableCreatedIndex: 0, Partition: "2026-01", UptoIndex: 1, Term: 7, Seq: 3},
			"data/t/0/2026-01/00000000000000000000-00000000000000000001" + tail},
		{"no partition", KeyInfo{Table: "t", TableCreatedIndex: 3, Partition: "", FromIndex: 2, UptoIndex: 9, Term: 7, Seq: 3},
			"data/t/3/_/00000000000000000002-00000000000000000009" + tail},
		{"partition that is an underscore", KeyInfo{Table: "t", TableCreatedIndex: 3, Partition: "_", FromIndex: 2, UptoIndex: 9, Term: 7, Seq: 3},
			"data/t/3/%5F/00000000000000000002-00000000000000000009" + tail},
		{"unsafe table name", KeyInfo{Table: "../a b/%.c", TableCreatedIndex: 3, Partition: "x/y", FromIndex: 2, UptoIndex: 9, Term: 7, Seq: 3},
			"data/%2E%2E%2Fa%20b%2F%25%2Ec/3/x%2Fy/00000000000000000002-00000000000000000009" + tail},
		{"non-ASCII", KeyInfo{Table: "é", TableCreatedIndex: 3, Partition: "", FromIndex: 2, UptoIndex: 9, Term: 7, Seq: 3},
			"data/%C3%A9/3/_/00000000000000000002-00000000000000000009" + tail},
		{"empty table", KeyInfo{Table: "", TableCreatedIndex: 3, Partition: "", FromIndex: 2, UptoIndex: 9, Term: 7, Seq: 3},
			"data/_/3/_/00000000000000000002-00000000000000000009" + tail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ObjectKey(tc.in)
			if got != tc.want {
				t.Fatalf("key = %q, want %q", got, tc.want)
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
				!strings.HasPrefix(got, tablePrefix(tc.in.Table, tc.in.TableCreatedIndex)) ||
				!strings.HasPrefix(got, DataPrefix) {
				t.Fatal("key does not start with its prefixes")
			}
		})
	}
}

func TestObjectKeyOrder(t *testing.T) {
	// Within a partition, keys sort by row range.
	a := ObjectKey(KeyInfo{Table: "t", TableCreatedIndex: 1, Partition: "p", FromIndex: 10, UptoIndex: 99, Term: 9, Seq: 9})
	b := ObjectKey(KeyInfo{Table: "t", TableCreatedIndex: 1, Partition: "p", FromIndex: 99, UptoIndex: 100, Term: 1, Seq: 1})
	if !(a < b) {
		t.Fatalf("%q >= %q", a, b)
	}
	// The same rows uploaded twice (another term, another attempt) get
	// different keys: no upload ever overwrites another.
	k := KeyInfo{Table: "t", TableCreatedIndex: 1, Partition: "p", FromIndex: 10, UptoIndex: 99, Term: 2, Seq: 1}
	k2, k3 := k, k
	k2.Term, k3.Seq = 3, 2
	if ObjectKey(k) == ObjectKey(k2) || ObjectKey(k) == ObjectKey(k3) {
		t.Fatal("two uploads share a key")
	}
	// Different incarnations of a table never share a prefix.
	if strings.HasPrefix(tablePrefix("t", 12), tablePrefix("t", 1)) {
		t.Fatal("table prefix of incarnation 1 is a prefix of incarnation 12")
	}
}

func TestParseObjectKeyErrors(t *testing.T) {
	const ok = "00000000000000000001-00000000000000000002-00000000000000000003-00000000000000000004"
	for _, key := range []string{
		"",
		"events/12/p/" + ok + ".parquet",
		"data/events/12/p/" + ok + ".csv",
		"data/events/12/" + ok + ".parquet",
		"data/events/12/p/extra/" + ok + ".parquet",
		"data/events/012/p/" + ok + ".parquet",
		"data/events//p/" + ok + ".parquet",
		"data/events/x/p/" + ok + ".parquet",
		"data/events/12/p/00000000000000000001.parquet", // the old format
		"data/events/12/p/00000000000000000001-00000000000000000002.parquet",
		"data/events/12/p/1-00000000000000000002-00000000000000000003-00000000000000000004.parquet",
		"data/events/12/p/0000000000000000000x-00000000000000000002-00000000000000000003-00000000000000000004.parquet",
		"data/events/12/p/99999999999999999999-00000000000000000002-00000000000000000003-00000000000000000004.parquet",
		"data/events/12/p/00000000000000000002-00000000000000000002-00000000000000000003-00000000000000000004.parquet",
		"data/events/12/p/" + ok + "-00000000000000000005.parquet",
		"data//12/p/" + ok + ".parquet",
		"data/a.b/12/p/" + ok + ".parquet",
		"data/%41/12/p/" + ok + ".parquet",
		"data/%2e/12/p/" + ok + ".parquet",
		"data/%2/12/p/" + ok + ".parquet",
		"data/a%5F/12/p/" + ok + ".parquet",
	} {
		if k, err := ParseObjectKey(key); err == nil {
			t.Errorf("ParseObjectKey(%q) = %+v, want an error", key, k)
		} else if !strings.HasPrefix(err.Error(), "objstore: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func FuzzObjectKey(f *testing.F) {
	f.Add("events", uint64(1), "2026-01-02", uint64(0), uint64(5), uint64(2), uint64(1))
	f.Add("", uint64(0), "_", uint64(3), uint64(7), uint64(0), uint64(0))
	f.Add("a/../b", uint64(1), "%5F", uint64(4), uint64(5), uint64(9), uint64(9))
	f.Fuzz(func(t *testing.T, table string, created uint64, partition string, from, upto, term, seq uint64) {
		if from >= upto {
			return
		}
		in := KeyInfo{table, created, partition, from, upto, term, seq}
		key := ObjectKey(in)
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
