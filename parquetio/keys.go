package parquetio

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DataPrefix is the key prefix under which every data file lives. The orphan
// sweeper lists it; nothing else is ever written under it.
const DataPrefix = "data/"

// KeyInfo is what an object key says about its file. ParseObjectKey returns
// it; ObjectKey and CompactedObjectKey build keys from its fields.
type KeyInfo struct {
	Table             string
	TableCreatedIndex uint64
	// Partition is "" for an unpartitioned table.
	Partition string
	// UptoIndex is the highest Raft index whose rows the file holds.
	UptoIndex uint64
	// CompactionID is 0 for a flushed file and non-zero for the output of
	// a compaction (see CompactedObjectKey).
	CompactionID uint64
}

// ObjectKey returns the deterministic key of the file that flushes the rows
// of (table, partition) up to and including Raft index uptoIndex:
//
//	data/<table>/<tableCreatedIndex>/<partition or "_">/<uptoIndex %020d>.parquet
//
// tableCreatedIndex is the Raft index that created the table, so a table
// dropped and created again under the same name never shares keys with its
// predecessor. A retried upload of the same flush writes the same key.
// Table and partition are escaped (see escapeSegment) so that any string
// gives a safe, reversible key.
func ObjectKey(table string, tableCreatedIndex uint64, partition string, uptoIndex uint64) string {
	return formatKey(KeyInfo{Table: table, TableCreatedIndex: tableCreatedIndex, Partition: partition, UptoIndex: uptoIndex})
}

// CompactedObjectKey returns the key of a compaction output:
//
//	data/<table>/<tableCreatedIndex>/<partition or "_">/<uptoIndex %020d>-<compactionID %020d>.parquet
//
// uptoIndex should be the highest UptoIndex of the inputs and compactionID a
// non-zero number unique per compaction attempt (for example the Raft index
// of the entry that planned it). A compaction output must never reuse the key
// of one of its inputs, which ObjectKey alone would do. A compactionID of 0
// gives the same key as ObjectKey.
func CompactedObjectKey(table string, tableCreatedIndex uint64, partition string, uptoIndex, compactionID uint64) string {
	return formatKey(KeyInfo{Table: table, TableCreatedIndex: tableCreatedIndex, Partition: partition, UptoIndex: uptoIndex, CompactionID: compactionID})
}

// TablePrefix returns the key prefix of all files of one incarnation of a
// table, ending in "/".
func TablePrefix(table string, tableCreatedIndex uint64) string {
	return DataPrefix + escapeSegment(table) + "/" + strconv.FormatUint(tableCreatedIndex, 10) + "/"
}

// PartitionPrefix returns the key prefix of all files of one partition,
// ending in "/".
func PartitionPrefix(table string, tableCreatedIndex uint64, partition string) string {
	return TablePrefix(table, tableCreatedIndex) + escapeSegment(partition) + "/"
}

func formatKey(k KeyInfo) string {
	var b strings.Builder
	b.Grow(len(DataPrefix) + len(k.Table) + len(k.Partition) + 72)
	b.WriteString(PartitionPrefix(k.Table, k.TableCreatedIndex, k.Partition))
	fmt.Fprintf(&b, "%020d", k.UptoIndex)
	if k.CompactionID != 0 {
		fmt.Fprintf(&b, "-%020d", k.CompactionID)
	}
	b.WriteString(".parquet")
	return b.String()
}

// ParseObjectKey is the inverse of ObjectKey and CompactedObjectKey. It
// accepts only keys in canonical form, so ParseObjectKey(k) succeeding means
// formatting the result gives k back.
func ParseObjectKey(key string) (KeyInfo, error) {
	fail := func(why string) (KeyInfo, error) {
		return KeyInfo{}, fmt.Errorf("parquetio: object key %q: %s", key, why)
	}
	rest, ok := strings.CutPrefix(key, DataPrefix)
	if !ok {
		return fail("does not start with " + DataPrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return fail("want data/<table>/<created index>/<partition>/<file>.parquet")
	}
	var k KeyInfo
	var err error
	if k.Table, err = unescapeSegment(parts[0]); err != nil {
		return fail("table: " + err.Error())
	}
	if k.TableCreatedIndex, err = parseCanonicalUint(parts[1], false); err != nil {
		return fail("created index: " + err.Error())
	}
	if k.Partition, err = unescapeSegment(parts[2]); err != nil {
		return fail("partition: " + err.Error())
	}
	name, ok := strings.CutSuffix(parts[3], ".parquet")
	if !ok {
		return fail("file name does not end in .parquet")
	}
	upto, compaction, hasCompaction := strings.Cut(name, "-")
	if k.UptoIndex, err = parseCanonicalUint(upto, true); err != nil {
		return fail("upto index: " + err.Error())
	}
	if hasCompaction {
		if k.CompactionID, err = parseCanonicalUint(compaction, true); err != nil {
			return fail("compaction id: " + err.Error())
		}
		if k.CompactionID == 0 {
			return fail("compaction id is 0")
		}
	}
	return k, nil
}

// parseCanonicalUint parses a decimal uint64 that is either zero-padded to 20
// digits (padded) or has no leading zeros (not padded).
func parseCanonicalUint(s string, padded bool) (uint64, error) {
	if padded && len(s) != 20 {
		return 0, fmt.Errorf("%q is not 20 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	if !padded && (s == "" || (len(s) > 1 && s[0] == '0')) {
		return 0, fmt.Errorf("%q is not a canonical decimal number", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// escapeSegment makes s safe as one key segment on every object store and
// file system: bytes other than [A-Za-z0-9_-] become %XX (upper-case hex),
// so "/", ".", "%" and non-ASCII never appear raw. The empty string becomes
// "_" and the string "_" becomes "%5F", so the mapping stays reversible.
// Partitions such as "2026-01-02T13" and ordinary table names are unchanged.
func escapeSegment(s string) string {
	if s == "" {
		return "_"
	}
	if s == "_" {
		return "%5F"
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !isSafeByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSafeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

var errBadEscape = errors.New("bad escape")

// unescapeSegment inverts escapeSegment and rejects anything escapeSegment
// would not have produced.
func unescapeSegment(s string) (string, error) {
	if s == "_" {
		return "", nil
	}
	if s == "" {
		return "", errors.New("empty segment")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isSafeByte(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			v := unhex(s[i+1])<<4 | unhex(s[i+2])
			if isSafeByte(v) && !(v == '_' && s == "%5F") {
				return "", fmt.Errorf("%w: %q escapes a safe byte", errBadEscape, s)
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w in %q", errBadEscape, s)
		}
	}
	return b.String(), nil
}

func isSafeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
